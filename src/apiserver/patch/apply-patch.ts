import { ApiError } from "../../api/index.js";
import { isMap } from "./json.js";
import { jsonPatch } from "./json-patch.js";
import { mergePatch } from "./merge-patch.js";
import type { PatchTarget } from "./merge-keys.js";
import { strategicMergePatch } from "./strategic.js";

/** Patch content types accepted by PATCH (KA-PATCH-1), in the order the 415 message lists. */
export const PATCH_CONTENT_TYPES = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
  "application/apply-patch+yaml",
] as const;

/**
 * Applies a JSON, merge or strategic merge patch to `original` and returns the new object.
 * Pure. Apply patches go through `serverSideApply` instead. Any other content type throws
 * ApiError "UnsupportedMediaType" (415); a bad patch throws "Invalid" or "BadRequest".
 */
export function applyPatch(
  contentType: string,
  original: object,
  patch: unknown,
  target: PatchTarget,
): object {
  let out: unknown;
  const mediaType = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  switch (mediaType) {
    case "application/merge-patch+json":
      if (!isMap(patch)) throw new ApiError("BadRequest", "merge patch must be a JSON object");
      out = mergePatch(original, patch);
      break;
    case "application/json-patch+json":
      out = jsonPatch(original, patch);
      break;
    case "application/strategic-merge-patch+json":
      out = strategicMergePatch(original, patch, target);
      break;
    default:
      throw unsupportedPatchType(contentType);
  }
  if (!isMap(out)) {
    throw new ApiError("BadRequest", "the patch did not produce a JSON object");
  }
  return out;
}

/** The upstream 415 for an unknown patch content type. */
export function unsupportedPatchType(contentType: string): ApiError {
  return new ApiError(
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${PATCH_CONTENT_TYPES.join(", ")}`,
    { kind: contentType },
  );
}
