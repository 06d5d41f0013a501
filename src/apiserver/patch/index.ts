/** apiserver/patch: merge, JSON and strategic merge patches; server-side apply and managedFields. */
export { applyPatch, unsupportedPatchType, PATCH_CONTENT_TYPES } from "./apply-patch.js";
export { mergePatch } from "./merge-patch.js";
export { jsonPatch } from "./json-patch.js";
export { strategicMergePatch } from "./strategic.js";
export { listStrategy, type ListStrategy, type PatchTarget } from "./merge-keys.js";
export {
  serverSideApply,
  updateManagedFields,
  type ServerSideApplyOptions,
} from "./managed-fields.js";
export { fieldsOf, toFieldsV1, fromFieldsV1, formatPath, type FieldSet } from "./field-set.js";
