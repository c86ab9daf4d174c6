// A process that owns a temporary file beside argv[2] and waits until killed (test/io/leftovers.test.ts).
import { writeFileSync } from "node:fs";
import { temporaryPathFor } from "../../src/io/atomic.ts";
const tmp = temporaryPathFor(process.argv[2]!);
writeFileSync(tmp, Buffer.alloc(4096, 1));
process.stdout.write(tmp + "\n");
setInterval(() => {}, 1 << 30);
