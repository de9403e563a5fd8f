/**
 * Reading resource properties the way the analyzer hands them over.
 *
 * During `pulumi preview` a property computed from another resource's output is unknown. @pulumi/policy wraps the
 * properties in a proxy that throws `UnknownValueError` on read; the server turns that into an advisory "can't run
 * during preview". Most checks should let that happen. A few only need to know that a value is *set* (a CMEK key id,
 * the `tee-image-reference` metadata), and an unknown value is as good as a known one there; `readProp` lets those
 * checks carry on instead of giving up on the whole resource.
 */
import * as policySdk from "@pulumi/policy";

/** Marks a property whose value is not known yet (preview). */
export const UNKNOWN: unique symbol = Symbol("unknown");
export type Unknown = typeof UNKNOWN;

// Exported at run time by @pulumi/policy but missing from its typings.
const unknownValueErrorClass: unknown = (policySdk as unknown as Record<string, unknown>)["UnknownValueError"];

/** True for the error @pulumi/policy's proxy throws when a property is unknown during preview. */
export function isUnknownValueError(err: unknown): boolean {
  return typeof unknownValueErrorClass === "function" && err instanceof unknownValueErrorClass;
}

/** Reads `obj[key]`, returning `UNKNOWN` instead of throwing when the value is unknown during preview. */
export function readProp(obj: unknown, key: string): unknown {
  if (!isRecord(obj) || !(key in obj)) return undefined;
  try {
    return obj[key];
  } catch (err) {
    if (isUnknownValueError(err)) return UNKNOWN;
    throw err;
  }
}

/** True for a plain object (a property bag). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The value as an array (`[]` for anything else). */
export function asArray(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The value if it is a string, else `undefined`. */
export function asString(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** True when a property is present with a value: a non-empty string, or unknown (computed, so it will be set). */
export function isSetOrUnknown(obj: unknown, key: string): boolean {
  const v = readProp(obj, key);
  if (v === UNKNOWN) return true;
  return typeof v === "string" ? v.trim() !== "" : v !== undefined && v !== null;
}

/** Quotes a value for a violation message. */
export function show(v: unknown): string {
  if (v === UNKNOWN) return "(unknown until deployment)";
  if (v === undefined) return "(not set)";
  return JSON.stringify(v);
}
