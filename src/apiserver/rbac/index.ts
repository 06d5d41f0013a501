/** apiserver/rbac: RBAC authorization (rules, bindings, bootstrap policy) and access reviews. */
export {
  RBAC_GROUP,
  type Authorizer,
  type BindingObject,
  type Decision,
  type PolicyRule,
  type PolicySource,
  type RequestAttributes,
  type RoleObject,
  type RoleRef,
  type Subject,
} from "./types.js";
export { requestAttributes } from "./request-info.js";
export { evaluateRbac, ruleAllows, rulesFor, subjectMatches, SYSTEM_MASTERS } from "./evaluate.js";
export { RbacAuthorizer, StorePolicySource, forbiddenError } from "./authorizer.js";
export { bootstrapClusterRoleBindings, bootstrapClusterRoles } from "./bootstrap.js";
export { validateRbacObject, withRbacValidation } from "./validation.js";
export {
  AUTHORIZATION_GROUP,
  selfSubjectAccessReview,
  selfSubjectRulesReview,
} from "./access-review.js";
