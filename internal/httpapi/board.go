package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed web
var webFS embed.FS

// boardHandler serves the BLF board (web/): static files, no credentials needed (the page
// asks for them and uses them for the API and the WebSocket).
func (s *Server) boardHandler() http.Handler {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/board/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.Load().board {
			writeError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:")
		files.ServeHTTP(w, r)
	})
}
