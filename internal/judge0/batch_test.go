package judge0_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// runBatch runs TestSubmissions's subtests of batched submissions.
func (s suite) runBatch(t *testing.T) {
	user := s.user
	t.Run("batch", func(t *testing.T) {
		t.Parallel()
		r := user.do(t, "POST", "/submissions/batch", map[string]any{"submissions": []any{
			py("print('b1')"), py("print(1)", "language_id", 9999), py(""), py("print('b2')"),
		}})
		r.expect(t, http.StatusCreated, "")
		var items []json.RawMessage
		if err := json.Unmarshal(r.raw, &items); err != nil || len(items) != 4 {
			t.Fatalf("%s", r.raw)
		}
		if string(items[1]) != `{"language_id":["language with id 9999 doesn't exist"]}` || string(items[2]) != `{"source_code":["can't be blank"]}` {
			t.Errorf("errors: %s", r.raw)
		}
		t1, t2 := decodeObj(t, items[0])["token"].(string), decodeObj(t, items[3])["token"].(string)
		path := fmt.Sprintf("/submissions/batch?tokens=%s,%s,%s&fields=stdout,status_id,token", t1, "00000000-0000-4000-8000-000000000000", t2)
		deadline := time.Now().Add(30 * time.Second)
		for {
			r = user.do(t, "GET", path, nil)
			r.expect(t, http.StatusOK, "")
			var got struct{ Submissions []map[string]any }
			if err := json.Unmarshal(r.raw, &got); err != nil || len(got.Submissions) != 3 || got.Submissions[1] != nil {
				t.Fatalf("%s", r.raw)
			}
			if got.Submissions[0]["status_id"] == 3.0 && got.Submissions[2]["status_id"] == 3.0 {
				if got.Submissions[0]["stdout"] != "b1\n" || got.Submissions[2]["stdout"] != "b2\n" || got.Submissions[0]["token"] != t1 {
					t.Errorf("%s", r.raw)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("batch did not finish: %s", r.raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
		many := make([]any, 21)
		for i := range many {
			many[i] = py("print(1)")
		}
		tooMany := `{"error":"number of submissions in a batch should be less than or equal to 20"}`
		user.do(t, "POST", "/submissions/batch", map[string]any{"submissions": many}).expect(t, http.StatusBadRequest, tooMany)
		user.do(t, "POST", "/submissions/batch", `{"submissions":[]}`).expect(t, http.StatusBadRequest, `{"error":"there should be at least one submission in a batch"}`)
		user.do(t, "POST", "/submissions/batch", map[string]any{"submissions": []any{py("")}}).expect(t, http.StatusUnprocessableEntity, `[{"source_code":["can't be blank"]}]`)
		user.do(t, "GET", "/submissions/batch?tokens="+strings.Repeat(t1+",", 21), nil).expect(t, http.StatusBadRequest, tooMany)
		user.do(t, "GET", "/submissions/batch", nil).expect(t, http.StatusBadRequest, `{"error":"there should be at least one submission in a batch"}`)
	})
}
