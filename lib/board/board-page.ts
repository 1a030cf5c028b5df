/** `&`, `<`, `>` and quotes as HTML entities. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/**
 * The board's page: a shell whose script polls `api/state` and draws the rest. `base` is the
 * board's own URL path ending in `/`, so that its assets and API resolve under any mount point.
 */
export function boardPage(base: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cinema</title>
<base href="${escapeHtml(base)}">
<link rel="stylesheet" href="assets/board.css">
<script src="assets/mermaid.js" defer></script>
<script src="assets/board.js" defer></script>
</head>
<body>
<header>
  <h1>Cinema</h1>
  <span id="summary" aria-live="polite">loading…</span>
  <span id="mode" class="mode"></span>
</header>
<main>
  <section class="graph-panel">
    <h2>Graph</h2>
    <div id="graph" role="img" aria-label="The projection graph"></div>
    <p class="legend">
      <span class="swatch succeeded"></span>succeeded <span class="swatch failed"></span>failed
      <span class="swatch running"></span>running <span class="swatch none"></span>not run yet
      <span class="swatch warn"></span>past warnAfter <span class="swatch error"></span>past errorAfter
    </p>
  </section>
  <section>
    <h2>Projections</h2>
    <table id="projections"><thead><tr>
      <th>projection</th><th>last run</th><th>when</th><th>freshness</th><th>pending</th><th class="action-column">refresh</th>
    </tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Recent runs</h2>
    <table id="runs"><thead><tr>
      <th>run</th><th>projection</th><th>lens</th><th>engine</th><th>status</th><th>created</th><th>duration</th><th></th>
    </tr></thead><tbody></tbody></table>
    <div id="timeline" aria-live="polite"></div>
  </section>
</main>
</body>
</html>
`;
}

/**
 * A standalone page of the graph (`cinema graph --format html`): Mermaid's bundle inlined, so the
 * file opens anywhere, offline.
 */
export function graphDocument(mermaid: string, bundle: string, title = 'Cinema projection graph'): string {
  // `</script` inside the inlined bundle would end its element early.
  const script = bundle.replace(/<\/script/gi, '<\\/script');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}h1{font-size:1.3rem}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<pre class="mermaid">${escapeHtml(mermaid)}</pre>
<script>${script}</script>
<script>mermaid.initialize({ startOnLoad: true, securityLevel: 'strict' });</script>
</body>
</html>
`;
}
