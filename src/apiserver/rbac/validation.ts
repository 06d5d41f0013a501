import type { FieldError, KubeObject } from "../../api/index.js";
import type { Admission, ValidateOptions } from "../types.js";
import {
  RBAC_GROUP,
  type BindingObject,
  type PolicyRule,
  type RoleObject,
  type Subject,
} from "./types.js";

const SUBJECT_KINDS = ["ServiceAccount", "User", "Group"];

function validateRules(rules: PolicyRule[] | undefined, isNamespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  (rules ?? []).forEach((r, i) => {
    const p = `rules[${i}]`;
    if (!Array.isArray(r.verbs) || r.verbs.length === 0) {
      errs.push({
        type: "Required",
        field: `${p}.verbs`,
        detail: "verbs must contain at least one value",
      });
    }
    const urls = r.nonResourceURLs ?? [];
    if (urls.length > 0) {
      if (isNamespaced) {
        errs.push({
          type: "Invalid",
          field: `${p}.nonResourceURLs`,
          value: urls,
          detail: "namespaced rules cannot apply to non-resource URLs",
        });
      }
      if ((r.apiGroups ?? []).length > 0 || (r.resources ?? []).length > 0) {
        errs.push({
          type: "Invalid",
          field: `${p}.nonResourceURLs`,
          value: urls,
          detail: "rules cannot apply to both regular resources and non-resource URLs",
        });
      }
      return;
    }
    if ((r.apiGroups ?? []).length === 0) {
      errs.push({
        type: "Required",
        field: `${p}.apiGroups`,
        detail: "resource rules must supply at least one api group",
      });
    }
    if ((r.resources ?? []).length === 0) {
      errs.push({
        type: "Required",
        field: `${p}.resources`,
        detail: "resource rules must supply at least one resource",
      });
    }
  });
  return errs;
}

function validateSubject(s: Subject, i: number, isNamespaced: boolean): FieldError[] {
  const p = `subjects[${i}]`;
  const errs: FieldError[] = [];
  if (typeof s.name !== "string" || s.name === "") {
    errs.push({ type: "Required", field: `${p}.name` });
  }
  if (!SUBJECT_KINDS.includes(s.kind)) {
    errs.push({
      type: "NotSupported",
      field: `${p}.kind`,
      value: s.kind,
      supported: SUBJECT_KINDS,
    });
  } else if (s.kind === "ServiceAccount") {
    if (s.apiGroup !== undefined && s.apiGroup !== "") {
      errs.push({
        type: "NotSupported",
        field: `${p}.apiGroup`,
        value: s.apiGroup,
        supported: [""],
      });
    }
    if (!isNamespaced && (s.namespace ?? "") === "") {
      errs.push({ type: "Required", field: `${p}.namespace` });
    }
  } else if (s.apiGroup !== RBAC_GROUP) {
    errs.push({
      type: "NotSupported",
      field: `${p}.apiGroup`,
      value: s.apiGroup ?? "",
      supported: [RBAC_GROUP],
    });
  }
  return errs;
}

function validateBinding(
  b: BindingObject,
  old: BindingObject | undefined,
  isNamespaced: boolean,
): FieldError[] {
  const errs: FieldError[] = [];
  const ref = (b as Partial<BindingObject>).roleRef;
  const kinds = isNamespaced ? ["Role", "ClusterRole"] : ["ClusterRole"];
  if (ref === undefined) {
    errs.push({ type: "Required", field: "roleRef" });
  } else {
    if (ref.apiGroup !== RBAC_GROUP) {
      errs.push({
        type: "NotSupported",
        field: "roleRef.apiGroup",
        value: ref.apiGroup,
        supported: [RBAC_GROUP],
      });
    }
    if (!kinds.includes(ref.kind)) {
      errs.push({ type: "NotSupported", field: "roleRef.kind", value: ref.kind, supported: kinds });
    }
    if (typeof ref.name !== "string" || ref.name === "") {
      errs.push({ type: "Required", field: "roleRef.name" });
    }
    const prev = old?.roleRef;
    if (
      prev !== undefined &&
      (prev.apiGroup !== ref.apiGroup || prev.kind !== ref.kind || prev.name !== ref.name)
    ) {
      errs.push({ type: "Invalid", field: "roleRef", value: ref, detail: "cannot change roleRef" });
    }
  }
  (b.subjects ?? []).forEach((s, i) => errs.push(...validateSubject(s, i, isNamespaced)));
  return errs;
}

/**
 * Field errors of an RBAC object with upstream's paths and wording (rules need verbs and,
 * for resources, api groups; bindings need a supported, unchanged roleRef and well-formed
 * subjects). Empty for other kinds. Pure.
 */
export function validateRbacObject(
  kind: string,
  obj: KubeObject,
  old: KubeObject | undefined,
): FieldError[] {
  switch (kind) {
    case "Role":
    case "ClusterRole":
      return validateRules((obj as RoleObject).rules, kind === "Role");
    case "RoleBinding":
    case "ClusterRoleBinding":
      return validateBinding(
        obj as BindingObject,
        old as BindingObject | undefined,
        kind === "RoleBinding",
      );
    default:
      return [];
  }
}

/** Wraps `inner` admission so that RBAC objects are validated too; other kinds pass through. */
export function withRbacValidation(inner: Admission): Admission {
  return {
    default: (kind, group, obj) => {
      inner.default(kind, group, obj);
    },
    validate: (kind, group, obj, old, opts: ValidateOptions) => {
      const errs = inner.validate(kind, group, obj, old, opts);
      if (group !== RBAC_GROUP) return errs;
      return [...errs, ...validateRbacObject(kind, obj, old)];
    },
  };
}
