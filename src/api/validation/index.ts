/** API defaulting, validation, strict decoding, quantities and image references (pure, no I/O). */
export {
  applyDefaults,
  computeQosClass,
  newPodStatus,
  DEFAULT_TOLERATION_SECONDS,
} from "./defaults.js";
export { validateObject, type ValidateOptions } from "./validate.js";
export {
  admissionValidate,
  apiAdmission,
  type AdmissionValidateOptions,
  type FieldValidation,
} from "./admission.js";
export { POD_UPDATE_FORBIDDEN_MESSAGE } from "./pod.js";
export { MAX_DATA_SIZE_BYTES, NODE_PORT_RANGE } from "./others.js";
export {
  checkDecode,
  decodingError,
  findTypeError,
  findUnknownFields,
  strictDecodingError,
  type DecodeCheck,
} from "./strict.js";
export {
  canonicalQuantity,
  formatQuantity,
  parseMilliCpu,
  parseQuantity,
  tryParseQuantity,
  QUANTITY_FORMAT_ERROR,
  type ParsedQuantity,
  type QuantityFormat,
} from "./quantity.js";
export {
  imageTagForDefaulting,
  InvalidImageReferenceError,
  isInvalidImageReference,
  normalizeImageReference,
  parseImageReference,
  type ImageReference,
} from "./image.js";
export {
  isConfigMapKey,
  isDns1035Label,
  isDns1123Label,
  isDns1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
} from "./names.js";
