// Package playground is the web page `airlock serve` shows at /: an
// editor, a language picker and the result panes of a run, talking to the
// native /v1 API like any client. Its assets are embedded in the binary
// and load nothing from elsewhere, so it works offline.
package playground

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// assets are the files under /playground/.
var assets, _ = fs.Sub(static, "static")

// Register serves the page at / and its assets under /playground/. At /,
// clients that do not ask for HTML get others instead when it is not nil
// (Piston clients expect its banner there).
func Register(mux interface{ Handle(string, http.Handler) }, others http.Handler) {
	files := http.FileServerFS(assets)
	page := guarded(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "index.html")
	})
	mux.Handle("GET /{$}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if others != nil && !strings.Contains(r.Header.Get("Accept"), "text/html") {
			others.ServeHTTP(w, r)
			return
		}
		page.ServeHTTP(w, r)
	}))
	mux.Handle("GET /playground/", guarded(http.StripPrefix("/playground/", files).ServeHTTP))
}

// guarded adds the headers that keep the page to itself: only its own
// scripts and styles run, it calls only this server, and no other site
// frames it.
func guarded(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-cache") // revalidated: a new binary's page is seen at once
		h(w, r)
	})
}
