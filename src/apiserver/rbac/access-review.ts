import { invalid, type FieldError, type UserInfo } from "../../api/index.js";
import type { Authorizer, RequestAttributes } from "./types.js";

/** The authorization.k8s.io API group. */
export const AUTHORIZATION_GROUP = "authorization.k8s.io";

interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

interface NonResourceAttributes {
  path?: string;
  verb?: string;
}

interface ReviewBody {
  metadata?: Record<string, unknown>;
  spec?: { resourceAttributes?: ResourceAttributes; nonResourceAttributes?: NonResourceAttributes };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Answers a SelfSubjectAccessReview (`kubectl auth can-i`): asks `authorizer` whether `user`
 * may do what `spec.resourceAttributes` or `spec.nonResourceAttributes` describe and returns
 * the review with `status.allowed` (and `denied`/`reason`). Nothing is stored. Throws
 * ApiError Invalid unless exactly one kind of attributes is given; rejects when the
 * authorizer does.
 */
export async function selfSubjectAccessReview(
  body: unknown,
  user: UserInfo,
  authorizer: Authorizer,
): Promise<object> {
  const review = (isRecord(body) ? body : {}) as ReviewBody;
  const spec = review.spec ?? {};
  const ra = spec.resourceAttributes;
  const nra = spec.nonResourceAttributes;
  if ((ra === undefined) === (nra === undefined)) {
    const errs: FieldError[] = [
      {
        type: "Invalid",
        field: "spec.resourceAttributes",
        value: ra ?? null,
        detail: "exactly one of nonResourceAttributes or resourceAttributes must be specified",
      },
    ];
    throw invalid("SelfSubjectAccessReview", "", errs, AUTHORIZATION_GROUP);
  }
  const attrs: RequestAttributes =
    ra !== undefined
      ? {
          user,
          verb: ra.verb ?? "",
          isResourceRequest: true,
          path: "",
          apiGroup: ra.group ?? "",
          apiVersion: ra.version ?? "",
          resource: ra.resource ?? "",
          subresource: ra.subresource ?? "",
          namespace: ra.namespace ?? "",
          name: ra.name ?? "",
        }
      : {
          user,
          verb: nra?.verb ?? "",
          isResourceRequest: false,
          path: nra?.path ?? "",
          apiGroup: "",
          apiVersion: "",
          resource: "",
          subresource: "",
          namespace: "",
          name: "",
        };
  const decision = await authorizer.authorize(attrs);
  const status: Record<string, unknown> = { allowed: decision.allowed };
  if (decision.reason !== "") status["reason"] = decision.reason;
  return {
    kind: "SelfSubjectAccessReview",
    apiVersion: `${AUTHORIZATION_GROUP}/v1`,
    metadata: { ...(review.metadata ?? {}), creationTimestamp: null },
    spec,
    status,
  };
}

/**
 * Answers a SelfSubjectRulesReview (`kubectl auth can-i --list`): the rules that apply to
 * `user` in `spec.namespace`, split into resource and non-resource rules. Without
 * `authorizer.rulesFor` the answer is empty and `incomplete`. Throws ApiError Invalid without
 * a namespace; rejects when the authorizer does.
 */
export async function selfSubjectRulesReview(
  body: unknown,
  user: UserInfo,
  authorizer: Authorizer,
): Promise<object> {
  const review = (isRecord(body) ? body : {}) as {
    metadata?: Record<string, unknown>;
    spec?: { namespace?: string };
  };
  const namespace = review.spec?.namespace ?? "";
  if (namespace === "") {
    throw invalid(
      "SelfSubjectRulesReview",
      "",
      [{ type: "Required", field: "spec.namespace" }],
      AUTHORIZATION_GROUP,
    );
  }
  const rules =
    authorizer.rulesFor === undefined ? undefined : await authorizer.rulesFor(user, namespace);
  const resourceRules: object[] = [];
  const nonResourceRules: object[] = [];
  for (const r of rules ?? []) {
    if ((r.nonResourceURLs ?? []).length > 0) {
      nonResourceRules.push({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs });
    } else {
      resourceRules.push({
        verbs: r.verbs,
        ...(r.apiGroups === undefined ? {} : { apiGroups: r.apiGroups }),
        ...(r.resources === undefined ? {} : { resources: r.resources }),
        ...(r.resourceNames === undefined ? {} : { resourceNames: r.resourceNames }),
      });
    }
  }
  return {
    kind: "SelfSubjectRulesReview",
    apiVersion: `${AUTHORIZATION_GROUP}/v1`,
    metadata: { ...(review.metadata ?? {}), creationTimestamp: null },
    spec: { namespace },
    status: { resourceRules, nonResourceRules, incomplete: rules === undefined },
  };
}
