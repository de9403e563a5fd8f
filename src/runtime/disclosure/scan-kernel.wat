;; The verbatim check's WebAssembly kernel (see scan-kernel.ts), for quote-free CSV bytes: it hashes fields exactly as
;; record-hash.ts's CsvRecordHasher does (same seeds, multipliers, blank rules, field and record finish), 16 bytes at a
;; time where it can (SIMD), and
;; - `scan`: for each record, looks its first field up in a Bloom filter and writes the whole hash of each record that
;;   passes (an input against the outputs' first fields; an output against the candidates' first fields, with each
;;   line's index), or puts each record's first field in the filter (an output);
;; - `lines`: for each output line, writes its whole hash and puts its first field in the Bloom filter.
;; A double quote stops both (a newline may then be inside a field): the caller uses the quote-aware hasher instead.
;;
;; The memory is shared (imported): the threads that scan parts of one input each run an instance on it, reading the
;; one filter in place; each has its own region for its block, batch and entries (all addresses are parameters).
;;
;; Built by `npm run build:kernel` (wabt's wat2wasm) into scan-kernel-bytes.ts; a test checks that the committed bytes
;; are this file's.
(module
  ;; At most 2 GiB, so that an address is never negative as an i32 (-1 and -2 are the functions' signals).
  (import "env" "memory" (memory 1 32768 shared))

  ;; Entries written by the last call to `scan` or `lines`.
  (global $count (export "count") (mut i32) (i32.const 0))
  ;; Non-blank records met by `scan` in modes 1 and 2, across calls (the caller sets it to 0 before a file).
  (global $records (export "records") (mut i32) (i32.const 0))
  ;; The last field's hash (two halves) and normalised length, set by $field.
  (global $fa (mut i32) (i32.const 0))
  (global $fb (mut i32) (i32.const 0))
  (global $flen (mut i32) (i32.const 0))
  ;; The last record's hash (two halves), its first field's hash, and whether it is not blank, set by $record.
  (global $rlo (mut i32) (i32.const 0))
  (global $rhi (mut i32) (i32.const 0))
  (global $firstA (mut i32) (i32.const 0))
  (global $firstB (mut i32) (i32.const 0))
  (global $nonBlank (mut i32) (i32.const 0))

  ;; Hashes the field that starts at $i into $fa/$fb (two halves) and $flen (its normalised length). Returns the address of the comma or newline that ends it; -1 when
  ;; a double quote comes first; -2 when the bytes end (at $filled) first.
  (func $field (param $i i32) (param $filled i32) (result i32)
    (local $j i32) (local $c i32) (local $a i32) (local $b i32) (local $w i32) (local $k i32) (local $len i32)
    (local $blank i32) (local $v v128) (local $p i32) (local $full i32) (local $h i32)
    (local $l0 i32) (local $l1 i32) (local $l2 i32) (local $l3 i32)
    (local.set $a (i32.const 0x811c9dc5))
    (local.set $b (i32.const 0x2545f491))
    ;; The common case at once: within the next 16 bytes, a comma or newline before any blank or quote. The field's
    ;; bytes are then its normalised text; the hash mixes them as big-endian 4-byte words, so each word's bytes are
    ;; reversed (a shuffle) and read as lanes.
    (block $hashed
      (if (i32.le_u (i32.add (local.get $i) (i32.const 16)) (local.get $filled))
        (then
          (local.set $v (v128.load (local.get $i)))
          (local.set $p (i32.ctz (i8x16.bitmask (v128.or
            (v128.or
              (i8x16.eq (local.get $v) (v128.const i8x16 44 44 44 44 44 44 44 44 44 44 44 44 44 44 44 44))
              (i8x16.eq (local.get $v) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10)))
            (v128.or
              (v128.or
                (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34))
                (i8x16.eq (local.get $v) (v128.const i8x16 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32)))
              (v128.or
                (i8x16.eq (local.get $v) (v128.const i8x16 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9))
                (i8x16.eq (local.get $v) (v128.const i8x16 13 13 13 13 13 13 13 13 13 13 13 13 13 13 13 13))))))))
          (if (i32.lt_u (local.get $p) (i32.const 16))
            (then
              (local.set $c (i32.load8_u (i32.add (local.get $i) (local.get $p))))
              (if (i32.or (i32.eq (local.get $c) (i32.const 0x2c)) (i32.eq (local.get $c) (i32.const 0x0a)))
                (then
                  (local.set $v (i8x16.shuffle 3 2 1 0 7 6 5 4 11 10 9 8 15 14 13 12 (local.get $v) (local.get $v)))
                  (local.set $l0 (i32x4.extract_lane 0 (local.get $v)))
                  (local.set $l1 (i32x4.extract_lane 1 (local.get $v)))
                  (local.set $l2 (i32x4.extract_lane 2 (local.get $v)))
                  (local.set $l3 (i32x4.extract_lane 3 (local.get $v)))
                  (local.set $full (i32.shr_u (local.get $p) (i32.const 2)))
                  (if (i32.ge_u (local.get $full) (i32.const 1))
                    (then
                      (local.set $a (i32.rotl (i32.mul (i32.xor (local.get $a) (local.get $l0)) (i32.const 0x9e3779b1)) (i32.const 13)))
                      (local.set $b (i32.rotl (i32.mul (i32.xor (local.get $b) (local.get $l0)) (i32.const 0x85ebca77)) (i32.const 11)))))
                  (if (i32.ge_u (local.get $full) (i32.const 2))
                    (then
                      (local.set $a (i32.rotl (i32.mul (i32.xor (local.get $a) (local.get $l1)) (i32.const 0x9e3779b1)) (i32.const 13)))
                      (local.set $b (i32.rotl (i32.mul (i32.xor (local.get $b) (local.get $l1)) (i32.const 0x85ebca77)) (i32.const 11)))))
                  (if (i32.ge_u (local.get $full) (i32.const 3))
                    (then
                      (local.set $a (i32.rotl (i32.mul (i32.xor (local.get $a) (local.get $l2)) (i32.const 0x9e3779b1)) (i32.const 13)))
                      (local.set $b (i32.rotl (i32.mul (i32.xor (local.get $b) (local.get $l2)) (i32.const 0x85ebca77)) (i32.const 11)))))
                  ;; The last 0-3 bytes: the top of the next lane, moved down.
                  (local.set $k (i32.and (local.get $p) (i32.const 3)))
                  (if (local.get $k)
                    (then
                      (local.set $w (i32.shr_u
                        (select (local.get $l0)
                          (select (local.get $l1)
                            (select (local.get $l2) (local.get $l3) (i32.eq (local.get $full) (i32.const 2)))
                            (i32.eq (local.get $full) (i32.const 1)))
                          (i32.eqz (local.get $full)))
                        (i32.sub (i32.const 32) (i32.shl (local.get $k) (i32.const 3)))))))
                  (local.set $len (local.get $p))
                  (local.set $j (i32.add (local.get $i) (local.get $p)))
                  (br $hashed)))))))
      ;; Otherwise a byte at a time: 4 bytes per word, each word mixed into both lanes.
      (local.set $j (local.get $i))
      (block $end
        (loop $byte
          (if (i32.ge_u (local.get $j) (local.get $filled)) (then (return (i32.const -2))))
          (local.set $c (i32.load8_u (local.get $j)))
          (br_if $end (i32.or (i32.eq (local.get $c) (i32.const 0x2c)) (i32.eq (local.get $c) (i32.const 0x0a))))
          (if (i32.eq (local.get $c) (i32.const 0x22)) (then (return (i32.const -1))))
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
          (br $byte))))
    ;; The field's hash (CsvRecordHasher.endField): the last 0-3 bytes and the length, then murmur3's finaliser on each
    ;; half (written out in place: a call per use cost about as much as the hash).
    (local.set $a (i32.xor (i32.mul (i32.xor (local.get $a) (local.get $w)) (i32.const 0x9e3779b1)) (local.get $len)))
    (local.set $b (i32.xor (i32.mul (i32.xor (local.get $b) (local.get $w)) (i32.const 0x85ebca77))
                    (i32.mul (local.get $len) (i32.const 0x27d4eb2f))))
    (local.set $h (i32.xor (local.get $a) (i32.mul (local.get $b) (i32.const 0x165667b1))))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))) (i32.const 0x85ebca6b)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))) (i32.const 0xc2b2ae35)))
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))
    (global.set $fa (local.get $h))
    (local.set $h (i32.xor (local.get $b) (i32.mul (local.get $h) (i32.const 0x27d4eb2f))))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))) (i32.const 0x85ebca6b)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))) (i32.const 0xc2b2ae35)))
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))
    (global.set $fb (local.get $h))
    (global.set $flen (local.get $len))
    (local.get $j))

  ;; Scans the records starting at $i, in order, while they start before $limit and end before $filled (a record is
  ;; ended by a newline), in one of three modes, with a Bloom filter (words at $bloom, $mask + 1 of them, a power of two):
  ;; - 0 (probe): each non-blank record whose first field may be in the filter is hashed whole and written at $out as
  ;;   four i32: its hash (low half first) and its first field's hash (two halves);
  ;; - 1 (set): each non-blank record's first field is put in the filter; nothing is written;
  ;; - 2 (probe with index): as 0, but the four i32 are the hash, the record's index among the non-blank records
  ;;   ($records before it), and 0.
  ;; Modes 1 and 2 count the non-blank records in $records. At most $cap entries are written. Returns the address of
  ;; the first record not scanned (one that starts at or after $limit, runs past $filled, or did not fit in $out: the
  ;; caller drains $out and calls again from there), or -1 when a double quote was met.
  ;; Records are taken 128 at a time: their ends and filter words first, then the words are read one after the other,
  ;; so that the cache misses of a filter larger than the caches overlap instead of coming one per record. $batch is
  ;; room for 128 entries of 32 bytes. (The filter's reads cost more than the rest of the scan: a batch of 32 read in the
  ;; loop that also writes the passing records took 10% longer than 128 read in a loop of their own.)
  (func (export "scan")
    (param $i i32) (param $filled i32) (param $limit i32) (param $bloom i32) (param $mask i32) (param $out i32)
    (param $cap i32) (param $batch i32) (param $mode i32) (result i32)
    (local $j i32) (local $e i32) (local $m i32) (local $bits i32) (local $v v128) (local $n i32) (local $nb i32)
    (local $more i32) (local $p i32) (local $at i32) (local $word i32) (local $keep i32) (local $o i32) (local $w v128)
    (loop $batches
      ;; 1. Up to 128 records: each one's start, newline, filter word and bits, whether it is kept, its index.
      (local.set $nb (i32.const 0))
      (local.set $more (i32.const 1))
      (block $full
        (loop $record
          (br_if $full (i32.eq (local.get $nb) (i32.const 128)))
          (if (i32.ge_u (local.get $i) (local.get $limit)) (then (local.set $more (i32.const 0)) (br $full)))
          (local.set $j (call $field (local.get $i) (local.get $filled)))
          (if (i32.eq (local.get $j) (i32.const -1)) (then (global.set $count (local.get $n)) (return (i32.const -1))))
          (if (i32.eq (local.get $j) (i32.const -2)) (then (local.set $more (i32.const 0)) (br $full)))
          ;; Whether the record is not blank: mode 0 finds out after the probe, for the few that pass (a blank record
          ;; equals no line); modes 1 and 2 must know it now, and only a blank first field leaves it open: the record
          ;; is then read whole (which also finds its newline).
          (local.set $keep (i32.const 1))
          (local.set $e (local.get $j))
          (if (i32.and (i32.ne (local.get $mode) (i32.const 0)) (i32.eqz (global.get $flen)))
            (then
              (local.set $e (call $record (local.get $i) (local.get $filled)))
              (if (i32.eq (local.get $e) (i32.const -1)) (then (global.set $count (local.get $n)) (return (i32.const -1))))
              (if (i32.eq (local.get $e) (i32.const -2)) (then (local.set $more (i32.const 0)) (br $full)))
              (global.set $fa (global.get $firstA))
              (global.set $fb (global.get $firstB))
              (local.set $keep (i32.ne (global.get $nonBlank) (i32.const 0)))))
          ;; The record's newline (or a quote, which ends the scan): 32 bytes at a time (most records end within two
          ;; turns), then 16, then one at a time near $filled.
          (if (i32.ne (i32.load8_u (local.get $e)) (i32.const 0x0a))
            (then
              (local.set $j (i32.add (local.get $e) (i32.const 1)))
              (block $found
                (block $tail32
                  (loop $vector32
                    (br_if $tail32 (i32.gt_u (i32.add (local.get $j) (i32.const 32)) (local.get $filled)))
                    (local.set $v (v128.load (local.get $j)))
                    (local.set $w (v128.load offset=16 (local.get $j)))
                    (local.set $v (v128.or
                      (i8x16.eq (local.get $v) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10))
                      (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34))))
                    (local.set $w (v128.or
                      (i8x16.eq (local.get $w) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10))
                      (i8x16.eq (local.get $w) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34))))
                    (if (v128.any_true (v128.or (local.get $v) (local.get $w)))
                      (then
                        (local.set $m (i32.or (i8x16.bitmask (local.get $v)) (i32.shl (i8x16.bitmask (local.get $w)) (i32.const 16))))
                        (local.set $e (i32.add (local.get $j) (i32.ctz (local.get $m))))
                        (br $found)))
                    (local.set $j (i32.add (local.get $j) (i32.const 32)))
                    (br $vector32)))
                (block $tail
                  (loop $vector
                    (br_if $tail (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $filled)))
                    (local.set $v (v128.load (local.get $j)))
                    (local.set $m (i8x16.bitmask (v128.or
                      (i8x16.eq (local.get $v) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10))
                      (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34)))))
                    (if (local.get $m)
                      (then
                        (local.set $e (i32.add (local.get $j) (i32.ctz (local.get $m))))
                        (br $found)))
                    (local.set $j (i32.add (local.get $j) (i32.const 16)))
                    (br $vector)))
                (loop $byte
                  (if (i32.ge_u (local.get $j) (local.get $filled)) (then (local.set $more (i32.const 0)) (br $full)))
                  (if (i32.or (i32.eq (i32.load8_u (local.get $j)) (i32.const 0x0a)) (i32.eq (i32.load8_u (local.get $j)) (i32.const 0x22)))
                    (then
                      (local.set $e (local.get $j))
                      (br $found)))
                  (local.set $j (i32.add (local.get $j) (i32.const 1)))
                  (br $byte)))
              (if (i32.eq (i32.load8_u (local.get $e)) (i32.const 0x22))
                (then (global.set $count (local.get $n)) (return (i32.const -1))))))
          ;; Three bits of one word (shift counts are taken mod 32).
          (local.set $at (i32.add (local.get $batch) (i32.shl (local.get $nb) (i32.const 5))))
          (i32.store (local.get $at) (local.get $i))
          (i32.store offset=4 (local.get $at) (local.get $e))
          (i32.store offset=8 (local.get $at)
            (i32.add (local.get $bloom) (i32.shl (i32.and (global.get $fa) (local.get $mask)) (i32.const 2))))
          (i32.store offset=12 (local.get $at)
            (i32.or (i32.shl (i32.const 1) (global.get $fb))
              (i32.or (i32.shl (i32.const 1) (i32.shr_u (global.get $fb) (i32.const 5))) (i32.shl (i32.const 1) (i32.shr_u (global.get $fb) (i32.const 10))))))
          (i32.store offset=16 (local.get $at) (local.get $keep))
          (i32.store offset=20 (local.get $at) (global.get $records))
          (global.set $records (i32.add (global.get $records) (select (local.get $keep) (i32.const 0) (local.get $mode))))
          (local.set $nb (i32.add (local.get $nb) (i32.const 1)))
          (local.set $i (i32.add (local.get $e) (i32.const 1)))
          (br $record)))
      ;; 2a. In the probe modes, every filter word of the batch first, in a loop without a branch: their cache misses
      ;; overlap. Whether each record passes is kept in its entry's keep flag.
      (if (i32.ne (local.get $mode) (i32.const 1))
        (then
          (local.set $p (i32.const 0))
          (block $loaded
            (loop $load
              (br_if $loaded (i32.ge_u (local.get $p) (local.get $nb)))
              (local.set $at (i32.add (local.get $batch) (i32.shl (local.get $p) (i32.const 5))))
              (local.set $bits (i32.load offset=12 (local.get $at)))
              (i32.store offset=16 (local.get $at)
                (i32.and (i32.load offset=16 (local.get $at))
                  (i32.eq (i32.and (i32.load (i32.load offset=8 (local.get $at))) (local.get $bits)) (local.get $bits))))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (br $load)))))
      ;; 2. Their filter words, one after the other: set (mode 1), or read, and the records that pass written out.
      (local.set $p (i32.const 0))
      (block $probed
        (loop $probe
          (br_if $probed (i32.ge_u (local.get $p) (local.get $nb)))
          (local.set $at (i32.add (local.get $batch) (i32.shl (local.get $p) (i32.const 5))))
          (local.set $bits (i32.load offset=12 (local.get $at)))
          (local.set $word (i32.load offset=8 (local.get $at)))
          (if (i32.eq (local.get $mode) (i32.const 1))
            (then
              (if (i32.load offset=16 (local.get $at))
                ;; Atomically: two threads may fill one filter from different files.
                (then (drop (i32.atomic.rmw.or (local.get $word) (local.get $bits))))))
            (else
              (if (i32.load offset=16 (local.get $at))
                (then
                  (if (i32.eq (local.get $n) (local.get $cap))
                    (then
                      ;; This record and the ones after it are scanned again by the next call: uncount them.
                      (global.set $count (local.get $n))
                      (global.set $records (i32.load offset=20 (local.get $at)))
                      (return (i32.load (local.get $at)))))
                  ;; Held whole between its start and its newline, quote-free: hashed whole (a blank one equals no line).
                  (drop (call $record (i32.load (local.get $at)) (local.get $filled)))
                  (if (global.get $nonBlank)
                    (then
                      (local.set $o (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 4))))
                      (i32.store (local.get $o) (global.get $rlo))
                      (i32.store offset=4 (local.get $o) (global.get $rhi))
                      (if (local.get $mode)
                        (then
                          (i32.store offset=8 (local.get $o) (i32.load offset=20 (local.get $at)))
                          (i32.store offset=12 (local.get $o) (i32.const 0)))
                        (else
                          (i32.store offset=8 (local.get $o) (global.get $firstA))
                          (i32.store offset=12 (local.get $o) (global.get $firstB))))
                      (local.set $n (i32.add (local.get $n) (i32.const 1)))))))))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $probe)))
      (br_if $batches (local.get $more)))
    (global.set $count (local.get $n))
    (local.get $i))

  ;; Sets the filter bits of $nb entries at $batch (8 bytes each: a word's address, its bits), one after the other.
  (func $set (param $batch i32) (param $nb i32)
    (local $p i32) (local $at i32) (local $word i32)
    (block $end
      (loop $each
        (br_if $end (i32.ge_u (local.get $p) (local.get $nb)))
        (local.set $at (i32.add (local.get $batch) (i32.shl (local.get $p) (i32.const 3))))
        (local.set $word (i32.load (local.get $at)))
        (i32.store (local.get $word) (i32.or (i32.load (local.get $word)) (i32.load offset=4 (local.get $at))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $each))))

  ;; Hashes the record that starts at $i whole (CsvRecordHasher's hash) into $rlo/$rhi, its first field into
  ;; $firstA/$firstB, and sets $nonBlank when some field has a non-blank byte. Returns the address of its newline; -1
  ;; when a double quote comes first; -2 when the bytes end (at $filled) first.
  (func $record (param $i i32) (param $filled i32) (result i32)
    (local $e i32) (local $ra i32) (local $rb i32) (local $fields i32) (local $nonBlank i32) (local $h i32)
    (local.set $ra (i32.const 0x9e3779b9))
    (local.set $rb (i32.const 0x7f4a7c15))
    (loop $field
      (local.set $e (call $field (local.get $i) (local.get $filled)))
      (if (i32.lt_s (local.get $e) (i32.const 0)) (then (return (local.get $e))))
      (if (i32.eqz (local.get $fields))
        (then
          (global.set $firstA (global.get $fa))
          (global.set $firstB (global.get $fb))))
      (local.set $nonBlank (i32.or (local.get $nonBlank) (global.get $flen)))
      ;; combineStep on both halves.
      (local.set $ra (i32.mul (i32.xor (i32.rotl (local.get $ra) (i32.const 13)) (global.get $fa)) (i32.const 0x9e3779b1)))
      (local.set $rb (i32.mul (i32.xor (i32.rotl (local.get $rb) (i32.const 13)) (global.get $fb)) (i32.const 0x85ebca77)))
      (local.set $fields (i32.add (local.get $fields) (i32.const 1)))
      (local.set $i (i32.add (local.get $e) (i32.const 1)))
      (br_if $field (i32.eq (i32.load8_u (local.get $e)) (i32.const 0x2c))))
    ;; combineFinish.
    (local.set $h (i32.xor (local.get $ra) (local.get $fields)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))) (i32.const 0x85ebca6b)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))) (i32.const 0xc2b2ae35)))
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))
    (global.set $rlo (local.get $h))
    (local.set $h (i32.xor (local.get $rb) (i32.mul (local.get $h) (i32.const 0x27d4eb2f))))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))) (i32.const 0x85ebca6b)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))) (i32.const 0xc2b2ae35)))
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))
    (global.set $rhi (local.get $h))
    (global.set $nonBlank (local.get $nonBlank))
    (local.get $e))

  ;; Hashes the records starting at $i, in order, while they end before $filled: each non-blank one's hash
  ;; (CsvRecordHasher's) is written at $out as two i32, low half first, at most $cap of them, and its first field is
  ;; put in the Bloom filter (words at $bloom, $mask + 1 of them). A blank record (no field with a non-blank byte) is
  ;; skipped, as CsvRecordHasher skips it. Returns the address of the first record not hashed (one that runs past
  ;; $filled, or did not fit in $out), or -1 when a double quote was met (the filter may then be partly set). The
  ;; filter's bits are set 32 records at a time, from the entries kept at $batch, so that their cache misses overlap.
  (func (export "lines")
    (param $i i32) (param $filled i32) (param $bloom i32) (param $mask i32) (param $out i32) (param $cap i32)
    (param $batch i32) (result i32)
    (local $e i32) (local $n i32) (local $nb i32) (local $at i32)
    (block $done
      (loop $record
        (br_if $done (i32.ge_u (local.get $i) (local.get $filled)))
        (br_if $done (i32.eq (local.get $n) (local.get $cap)))
        (local.set $e (call $record (local.get $i) (local.get $filled)))
        (if (i32.eq (local.get $e) (i32.const -1)) (then (global.set $count (local.get $n)) (return (i32.const -1))))
        (br_if $done (i32.eq (local.get $e) (i32.const -2)))
        (if (global.get $nonBlank)
          (then
            (local.set $at (i32.add (local.get $batch) (i32.shl (local.get $nb) (i32.const 3))))
            (i32.store (local.get $at)
              (i32.add (local.get $bloom) (i32.shl (i32.and (global.get $firstA) (local.get $mask)) (i32.const 2))))
            (i32.store offset=4 (local.get $at)
              (i32.or (i32.shl (i32.const 1) (global.get $firstB))
                (i32.or (i32.shl (i32.const 1) (i32.shr_u (global.get $firstB) (i32.const 5)))
                  (i32.shl (i32.const 1) (i32.shr_u (global.get $firstB) (i32.const 10))))))
            (local.set $nb (i32.add (local.get $nb) (i32.const 1)))
            (if (i32.eq (local.get $nb) (i32.const 32))
              (then
                (call $set (local.get $batch) (local.get $nb))
                (local.set $nb (i32.const 0))))
            (i32.store (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 3))) (global.get $rlo))
            (i32.store (i32.add (local.get $out) (i32.add (i32.shl (local.get $n) (i32.const 3)) (i32.const 4))) (global.get $rhi))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))))
        (local.set $i (i32.add (local.get $e) (i32.const 1)))
        (br $record)))
    (call $set (local.get $batch) (local.get $nb))
    (global.set $count (local.get $n))
    (local.get $i))
)
