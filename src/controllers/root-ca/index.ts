/** root-ca: publishes the cluster CA as ConfigMap `kube-root-ca.crt` in every namespace. */
export {
  RootCaPublisher,
  ROOT_CA_CONFIGMAP,
  ROOT_CA_DESCRIPTION,
  ROOT_CA_DESCRIPTION_ANNOTATION,
  type RootCaClients,
  type RootCaPublisherOptions,
} from "./controller.js";
