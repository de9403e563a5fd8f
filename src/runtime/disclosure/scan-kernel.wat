;; The verbatim check's input scan kernel (see input-scan.ts and scan-kernel.ts): for each record of a quote-free CSV
;; block, hash its first field exactly as record-hash.ts's CsvRecordHasher does (same seeds, multipliers, blank rules
;; and finish), look the hash up in the Bloom filter of the outputs' first fields, and find the record's newline 16
;; bytes at a time (SIMD). The records that pass are written out as (start, newline) address pairs.
;;
;; Built by `npm run build:kernel` (wabt's wat2wasm) into scan-kernel-bytes.ts; a test checks that the committed bytes
;; are this file's.
(module
  (memory (export "memory") 1)

  ;; Candidates written by the last call to $scan.
  (global $count (export "count") (mut i32) (i32.const 0))

  ;; Scans the records starting at $i, in order, while they start before $limit and end before $filled (a record is
  ;; ended by a newline). Each record whose first field may be in the Bloom filter (words at $bloom, $mask + 1 of them,
  ;; a power of two) is written at $out as two i32: its first byte's address and its newline's; at most $cap of them.
  ;; Returns the address of the first record not scanned (one that starts at or after $limit, runs past $filled, or did
  ;; not fit in $out: the caller drains $out and calls again from there), or -1 when a double quote was met in a
  ;; scanned byte (then a newline may be inside a field, and the caller must use the quote-aware hasher).
  (func (export "scan")
    (param $i i32) (param $filled i32) (param $limit i32) (param $bloom i32) (param $mask i32) (param $out i32)
    (param $cap i32) (result i32)
    (local $j i32) (local $c i32) (local $a i32) (local $b i32) (local $w i32) (local $k i32) (local $len i32)
    (local $blank i32) (local $e i32) (local $m i32) (local $fa i32) (local $fb i32) (local $bits i32)
    (local $pass i32) (local $v v128) (local $n i32)
    (block $done
      (loop $record
        (br_if $done (i32.ge_u (local.get $i) (local.get $limit)))
        (local.set $a (i32.const 0x811c9dc5))
        (local.set $b (i32.const 0x2545f491))
        (local.set $w (i32.const 0))
        (local.set $k (i32.const 0))
        (local.set $len (i32.const 0))
        (local.set $blank (i32.const 0))
        (local.set $j (local.get $i))
        ;; The first field, a byte at a time: 4 bytes per word, each word mixed into both lanes.
        (block $fieldEnd
          (loop $byte
            (br_if $done (i32.ge_u (local.get $j) (local.get $filled)))
            (local.set $c (i32.load8_u (local.get $j)))
            (br_if $fieldEnd
              (i32.or (i32.eq (local.get $c) (i32.const 0x2c)) (i32.eq (local.get $c) (i32.const 0x0a))))
            (if (i32.eq (local.get $c) (i32.const 0x22))
              (then (global.set $count (local.get $n)) (return (i32.const -1))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            ;; Blanks (space, tab, CR): dropped at the start, one space for a run before more text, dropped at the end.
            (if (i32.or (i32.eq (local.get $c) (i32.const 0x20))
                  (i32.or (i32.eq (local.get $c) (i32.const 0x09)) (i32.eq (local.get $c) (i32.const 0x0d))))
              (then
                (local.set $blank (i32.or (local.get $blank) (i32.ne (local.get $len) (i32.const 0))))
                (br $byte)))
            (if (local.get $blank)
              (then
                (local.set $blank (i32.const 0))
                (local.set $w (i32.or (i32.shl (local.get $w) (i32.const 8)) (i32.const 0x20)))
                (local.set $len (i32.add (local.get $len) (i32.const 1)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (if (i32.eq (local.get $k) (i32.const 4))
                  (then
                    (local.set $a (i32.rotl (i32.mul (i32.xor (local.get $a) (local.get $w)) (i32.const 0x9e3779b1)) (i32.const 13)))
                    (local.set $b (i32.rotl (i32.mul (i32.xor (local.get $b) (local.get $w)) (i32.const 0x85ebca77)) (i32.const 11)))
                    (local.set $w (i32.const 0))
                    (local.set $k (i32.const 0))))))
            (local.set $w (i32.or (i32.shl (local.get $w) (i32.const 8)) (local.get $c)))
            (local.set $len (i32.add (local.get $len) (i32.const 1)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (if (i32.eq (local.get $k) (i32.const 4))
              (then
                (local.set $a (i32.rotl (i32.mul (i32.xor (local.get $a) (local.get $w)) (i32.const 0x9e3779b1)) (i32.const 13)))
                (local.set $b (i32.rotl (i32.mul (i32.xor (local.get $b) (local.get $w)) (i32.const 0x85ebca77)) (i32.const 11)))
                (local.set $w (i32.const 0))
                (local.set $k (i32.const 0))))
            (br $byte)))
        ;; The field's hash: the last 0-3 bytes and the length, then murmur3's finaliser on each half.
        (local.set $a (i32.xor (i32.mul (i32.xor (local.get $a) (local.get $w)) (i32.const 0x9e3779b1)) (local.get $len)))
        (local.set $b (i32.xor (i32.mul (i32.xor (local.get $b) (local.get $w)) (i32.const 0x85ebca77))
                        (i32.mul (local.get $len) (i32.const 0x27d4eb2f))))
        (local.set $fa (call $fmix (i32.xor (local.get $a) (i32.mul (local.get $b) (i32.const 0x165667b1)))))
        (local.set $fb (call $fmix (i32.xor (local.get $b) (i32.mul (local.get $fa) (i32.const 0x27d4eb2f)))))
        ;; Two bits of one word (shift counts are taken mod 32).
        (local.set $bits (i32.or (i32.shl (i32.const 1) (local.get $fb))
                           (i32.shl (i32.const 1) (i32.shr_u (local.get $fb) (i32.const 5)))))
        (local.set $pass (i32.eq
          (i32.and
            (i32.load (i32.add (local.get $bloom) (i32.shl (i32.and (local.get $fa) (local.get $mask)) (i32.const 2))))
            (local.get $bits))
          (local.get $bits)))
        ;; The record's newline (or a quote, which ends the scan): 16 bytes at a time, then one at a time near $filled.
        (local.set $e (local.get $j))
        (if (i32.ne (local.get $c) (i32.const 0x0a))
          (then
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (block $found
              (block $tail
                (loop $vector
                  (br_if $tail (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $filled)))
                  (local.set $v (v128.load (local.get $j)))
                  (local.set $m (i32.or
                    (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10)))
                    (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34)))))
                  (if (local.get $m)
                    (then
                      (local.set $e (i32.add (local.get $j) (i32.ctz (local.get $m))))
                      (br $found)))
                  (local.set $j (i32.add (local.get $j) (i32.const 16)))
                  (br $vector)))
              (loop $byte
                (br_if $done (i32.ge_u (local.get $j) (local.get $filled)))
                (local.set $c (i32.load8_u (local.get $j)))
                (if (i32.or (i32.eq (local.get $c) (i32.const 0x0a)) (i32.eq (local.get $c) (i32.const 0x22)))
                  (then
                    (local.set $e (local.get $j))
                    (br $found)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $byte)))
            (if (i32.eq (i32.load8_u (local.get $e)) (i32.const 0x22))
              (then (global.set $count (local.get $n)) (return (i32.const -1))))))
        (if (local.get $pass)
          (then
            (br_if $done (i32.eq (local.get $n) (local.get $cap)))
            (i32.store (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 3))) (local.get $i))
            (i32.store (i32.add (local.get $out) (i32.add (i32.shl (local.get $n) (i32.const 3)) (i32.const 4))) (local.get $e))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))))
        (local.set $i (i32.add (local.get $e) (i32.const 1)))
        (br $record)))
    (global.set $count (local.get $n))
    (local.get $i))

  ;; murmur3's 32-bit finaliser.
  (func $fmix (param $h i32) (result i32)
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))) (i32.const 0x85ebca6b)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))) (i32.const 0xc2b2ae35)))
    (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16)))))
