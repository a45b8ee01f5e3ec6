export { memoryIo } from "../../../test/support/cli-io.js";
