import type { FieldError } from "../errors.js";
import type { KubeObject } from "../meta.js";
import { applyDefaults } from "./defaults.js";
import { checkDecode, decodingError, strictDecodingError } from "./strict.js";
import { validateObject } from "./validate.js";

/** `fieldValidation` query parameter (KA-CREATE-3). */
export type FieldValidation = "Strict" | "Warn" | "Ignore";

/** Options of {@link admissionValidate}. */
export interface AdmissionValidateOptions {
  /** The subresource being written (`status`, `ephemeralcontainers`, …), if any. */
  subresource?: string;
  /** How unknown fields are treated; `Warn` and `Ignore` accept them. */
  fieldValidation: FieldValidation;
}

/**
 * The whole write-time check the apiserver needs, in upstream's order: (1) wrong JSON types
 * → throws 400 `<Kind> in version "v1" cannot be handled as a <Kind>: json: cannot unmarshal
 * …` whatever the mode; (2) with `Strict`, unknown fields → throws the 400 strict decoding
 * error; (3) returns validateObject's field errors (the caller throws Invalid with them).
 * Pure and synchronous; throws only ApiError.
 */
export function admissionValidate(
  kind: string,
  group: string,
  obj: KubeObject,
  old: KubeObject | undefined,
  opts: AdmissionValidateOptions,
): FieldError[] {
  // Every group podrun serves is at v1.
  const version = group === "" ? "v1" : `${group}/v1`;
  const decoded = checkDecode(kind, group, obj);
  if (decoded.typeError !== undefined) throw decodingError(kind, version, decoded.typeError);
  if (opts.fieldValidation === "Strict" && decoded.unknownFields.length > 0) {
    throw strictDecodingError(kind, version, decoded.unknownFields);
  }
  return validateObject(
    kind,
    group,
    obj,
    old,
    opts.subresource === undefined ? {} : { subresource: opts.subresource },
  );
}

/**
 * Defaulting plus validation as one object shaped like the apiserver's `Admission` hook, so
 * `cmd/` can pass `apiAdmission` directly. Defaulting tolerates malformed bodies; the type
 * problems are reported by `validate`.
 */
export const apiAdmission = {
  default: applyDefaults,
  validate: admissionValidate,
} as const;
