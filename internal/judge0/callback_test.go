package judge0_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// runCallback runs TestSubmissions's subtests of the callback's PUT.
func (s suite) runCallback(t *testing.T) {
	user := s.user
	t.Run("callback", func(t *testing.T) {
		t.Parallel()
		type call struct {
			method, contentType string
			body                []byte
		}
		calls := make(chan call, 4)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			calls <- call{r.Method, r.Header.Get("Content-Type"), body}
			w.WriteHeader(http.StatusInternalServerError) // an answer all the same: Judge0 does not call again
		}))
		defer hook.Close()
		token := user.create(t, py("print('hi')", "callback_url", hook.URL+"/done"))
		defer func() {
			select {
			case <-calls:
				t.Error("called back again after an answer")
			case <-time.After(500 * time.Millisecond): // the service's test backoff is 50 ms
			}
		}()
		select {
		case c := <-calls:
			if c.method != http.MethodPut || c.contentType != "application/json" {
				t.Errorf("%s with %q", c.method, c.contentType)
			}
			expectKeys(t, c.body, defaultFields)
			m := decodeObj(t, c.body)
			if m["stdout"] != "aGkK\n" || m["token"] != token {
				t.Errorf("%s", c.body)
			}
			expectStatus(t, m, 3)
		case <-time.After(30 * time.Second):
			t.Fatal("no callback")
		}
	})
}
