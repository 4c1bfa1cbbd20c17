// After `tsc`: the package.json bin entries are run directly (ctr --runc-binary,
// systemd ExecStart), so they need the executable bit; tsc does not set it.
import fs from 'node:fs';

const { bin } = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
for (const file of Object.values(bin)) fs.chmodSync(new URL(`../${file}`, import.meta.url), 0o755);
