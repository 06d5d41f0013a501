/** cli: the podrun command line (get, describe, apply, delete, logs), printers, kubeconfig. */
export { runCli, printError, TABLE_ACCEPT, type CliIO, type TextSink } from "./cli.js";
export {
  printTable,
  describePod,
  describeEvents,
  humanDuration,
  rfc1123z,
  type Table,
  type TableColumn,
  type TableRow,
  type TablePrintOptions,
} from "./printers.js";
export {
  parseKubeconfig,
  kubeconfigPath,
  DEFAULT_DATA_DIR,
  type KubeconfigContext,
} from "./kubeconfig.js";
export { tabwrite, GET_TABWRITER, DESCRIBE_TABWRITER, type TabwriterOptions } from "./tabwriter.js";
