// The status table as the API serves it (GET /api/v1/statuses, from orchestrator/status.py): which sweep
// states are final, launchable or settled, and which target states are still training. Fetched once per
// page, so the UI keeps no copy of the table.

import { get } from "./api.js";

let loaded = null;

/** {terminal, launchable, settled, targetUnfinished}: Sets of status names. */
export function loadStatuses() {
  loaded ??= get("statuses").then((table) => ({
    terminal: new Set(table.terminal),
    launchable: new Set(table.launchable),
    settled: new Set(table.settled),
    targetUnfinished: new Set(table.target_unfinished),
  })).catch((err) => {
    loaded = null; // ask again next time
    throw err;
  });
  return loaded;
}
