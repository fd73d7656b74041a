// Package web serves the embedded front end: the agent/admin single-page app,
// the visitor widget (widget.js) and the demo page that hosts it. The files
// are built by Vite into dist/ (committed, so go build needs no Node; CI runs
// check-dist.sh to catch a stale dist).
package web

import "embed"

// Dist holds the built front end: index.html, assets/, widget.js, demo.html.
//
//go:embed all:dist
var Dist embed.FS
