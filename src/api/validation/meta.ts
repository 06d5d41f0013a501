import type { FieldError } from "../errors.js";
import type { ObjectMeta } from "../meta.js";
import {
  forbidden,
  invalidField,
  isObj,
  isRecord,
  required,
  tooLong,
  validateImmutable,
} from "./field.js";
import { isDns1123Label, isQualifiedName, isValidLabelValue } from "./names.js";

/** A name validator: returns upstream's messages for an invalid name. */
export type NameValidator = (name: string) => string[];

/** Upstream's total annotation size limit (256 KiB). */
export const TOTAL_ANNOTATION_SIZE_LIMIT_BYTES = 256 * 1024;

/** Label map validation: keys are qualified names, values label values (path `metadata.labels`). */
export function validateLabels(labels: unknown, path: string): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (!isRecord(labels)) return [invalidField(path, labels, "must be a map of strings")];
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels)) {
    for (const m of isQualifiedName(k)) errs.push(invalidField(path, k, m));
    if (typeof v !== "string") {
      errs.push(invalidField(path, v, "must be a string"));
      continue;
    }
    for (const m of isValidLabelValue(v)) errs.push(invalidField(path, v, m));
  }
  return errs;
}

function validateAnnotations(ann: unknown, path: string): FieldError[] {
  if (ann === undefined || ann === null) return [];
  if (!isRecord(ann)) return [invalidField(path, ann, "must be a map of strings")];
  const errs: FieldError[] = [];
  let total = 0;
  for (const [k, v] of Object.entries(ann)) {
    for (const m of isQualifiedName(k.toLowerCase())) errs.push(invalidField(path, k, m));
    total += k.length + (typeof v === "string" ? v.length : 0);
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES) {
    errs.push(tooLong(path, "", TOTAL_ANNOTATION_SIZE_LIMIT_BYTES));
  }
  return errs;
}

/**
 * ObjectMeta validation (ValidateObjectMeta): name or generateName, the name format, the
 * namespace (required for namespaced kinds, forbidden otherwise), labels and annotations.
 */
export function validateObjectMeta(
  meta: ObjectMeta | undefined,
  namespaced: boolean,
  nameFn: NameValidator,
): FieldError[] {
  if (!isObj(meta)) return [required("metadata")];
  const errs: FieldError[] = [];
  const name = meta.name ?? "";
  const generateName = meta.generateName ?? "";
  if (generateName !== "") {
    // generateName is validated as a prefix: a trailing dash is allowed.
    const prefix = generateName.endsWith("-") ? `${generateName.slice(0, -1)}a` : generateName;
    for (const m of nameFn(prefix))
      errs.push(invalidField("metadata.generateName", generateName, m));
  }
  if (name === "") {
    if (generateName === "")
      errs.push(required("metadata.name", "name or generateName is required"));
  } else {
    for (const m of nameFn(name)) errs.push(invalidField("metadata.name", name, m));
  }
  const ns = meta.namespace ?? "";
  if (namespaced) {
    if (ns === "") errs.push(required("metadata.namespace"));
    else for (const m of isDns1123Label(ns)) errs.push(invalidField("metadata.namespace", ns, m));
  } else if (ns !== "") {
    errs.push(forbidden("metadata.namespace", "not allowed on this type"));
  }
  if (meta.generation !== undefined && meta.generation < 0) {
    errs.push(
      invalidField("metadata.generation", meta.generation, "must be greater than or equal to 0"),
    );
  }
  errs.push(...validateLabels(meta.labels, "metadata.labels"));
  errs.push(...validateAnnotations(meta.annotations, "metadata.annotations"));
  if (meta.finalizers !== undefined) {
    meta.finalizers.forEach((f, i) => {
      for (const m of isQualifiedName(f))
        errs.push(invalidField(`metadata.finalizers[${i}]`, f, m));
    });
  }
  return errs;
}

/** ObjectMeta update rules: name, namespace, uid and creationTimestamp are immutable. */
export function validateObjectMetaUpdate(meta: ObjectMeta, old: ObjectMeta): FieldError[] {
  const errs: FieldError[] = [];
  errs.push(...validateImmutable(meta.name, old.name, "metadata.name"));
  errs.push(...validateImmutable(meta.namespace, old.namespace, "metadata.namespace"));
  if (meta.uid !== undefined && old.uid !== undefined) {
    errs.push(...validateImmutable(meta.uid, old.uid, "metadata.uid"));
  }
  if (meta.creationTimestamp !== undefined && old.creationTimestamp !== undefined) {
    errs.push(
      ...validateImmutable(
        meta.creationTimestamp,
        old.creationTimestamp,
        "metadata.creationTimestamp",
      ),
    );
  }
  return errs;
}
