package judge0_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
)

// runAccess runs TestSubmissions's subtests of who may see, list and delete which submissions.
func (s suite) runAccess(t *testing.T) {
	env, user, other, admin := s.env, s.user, s.other, s.admin
	t.Run("authentication", func(t *testing.T) {
		t.Parallel()
		for _, c := range []client{{env.URL, ""}, {env.URL, "wrong"}} {
			for _, path := range []string{"/languages", "/submissions/batch?tokens=x", "/about"} {
				if r := c.do(t, "GET", path, nil); r.code != http.StatusUnauthorized || len(r.raw) != 0 {
					t.Errorf("GET %s with token %q: %d %q", path, c.token, r.code, r.raw)
				}
			}
			if r := c.do(t, "POST", "/submissions", py("print(1)")); r.code != http.StatusUnauthorized || len(r.raw) != 0 {
				t.Errorf("POST with token %q: %d %q", c.token, r.code, r.raw)
			}
		}
		// The token may come as a query parameter too.
		client{env.URL, ""}.do(t, "GET", "/statuses?X-Auth-Token="+userToken, nil).expect(t, http.StatusOK, "")
		user.do(t, "POST", "/authenticate", nil).expect(t, http.StatusOK, "")
		user.do(t, "POST", "/authorize", nil, "X-Auth-User", adminToken).expect(t, http.StatusOK, "")
		for _, authUser := range []string{"", userToken, "wrong"} {
			for _, req := range [][2]string{{"GET", "/submissions"}, {"DELETE", "/submissions/00000000-0000-4000-8000-000000000000"}, {"POST", "/authorize"}} {
				if r := admin.do(t, req[0], req[1], nil, "X-Auth-User", authUser); r.code != http.StatusForbidden || len(r.raw) != 0 {
					t.Errorf("%s %s as %q: %d %q", req[0], req[1], authUser, r.code, r.raw)
				}
			}
		}
	})

	t.Run("keys see their own submissions", func(t *testing.T) {
		t.Parallel()
		token := user.run(t, "", py("print('mine')"))["token"].(string)
		if r := other.do(t, "GET", "/submissions/"+token, nil); r.code != http.StatusNotFound {
			t.Errorf("another key: %d %s", r.code, r.raw)
		}
		other.do(t, "GET", "/submissions/batch?tokens="+token+"&fields=token", nil).expect(t, http.StatusOK, `{"submissions":[null]}`)
		admin.do(t, "GET", "/submissions/"+token+"?fields=stdout", nil).expect(t, http.StatusOK, `{"stdout":"mine\n"}`)

		r := admin.do(t, "GET", "/submissions?per_page=1&fields=token", nil, "X-Auth-User", adminToken)
		r.expect(t, http.StatusOK, "")
		expectKeys(t, r.raw, []string{"submissions", "meta"})
		var page struct {
			Submissions []map[string]any
			Meta        json.RawMessage
		}
		json.Unmarshal(r.raw, &page)
		expectKeys(t, page.Meta, []string{"current_page", "next_page", "prev_page", "total_pages", "total_count"})
		meta := decodeObj(t, page.Meta)
		if len(page.Submissions) != 1 || meta["current_page"] != json.Number("1") || meta["prev_page"] != nil || number(t, meta["total_count"]) < 1 {
			t.Errorf("%s", r.raw)
		}
	})

	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		token := user.run(t, "", py("print('hi')"))["token"].(string)
		user.do(t, "DELETE", "/submissions/"+token, nil, "X-Auth-User", userToken).expect(t, http.StatusForbidden, "")
		r := admin.do(t, "DELETE", "/submissions/"+token, nil, "X-Auth-User", adminToken)
		r.expect(t, http.StatusOK, "")
		expectKeys(t, r.raw, defaultFields)
		if m := r.obj(t); m["stdout"] != "aGkK\n" || m["token"] != token {
			t.Errorf("the deleted submission, in base64: %s", r.raw)
		}
		// Rails answers a missing record with an empty body, or JSON when
		// JSON is what the client accepts first.
		if r := user.do(t, "GET", "/submissions/"+token, nil, "Accept", "*/*"); r.code != http.StatusNotFound || len(r.raw) != 0 {
			t.Errorf("deleted: %d %q", r.code, r.raw)
		}
		user.do(t, "GET", "/submissions/"+token, nil, "Accept", "application/json, text/plain, */*").expect(t, http.StatusNotFound, `{"status":404,"error":"Not Found"}`)
		admin.do(t, "DELETE", "/submissions/"+token, nil, "X-Auth-User", adminToken).expect(t, http.StatusNotFound, "")

		busy := user.create(t, py("import time\ntime.sleep(2)"))
		r = admin.do(t, "DELETE", "/submissions/"+busy, nil, "X-Auth-User", adminToken)
		unfinished := regexp.MustCompile(`^\{"error":"submission cannot be deleted because its status is (1 \(In Queue\)|2 \(Processing\))"\}$`)
		if r.code != http.StatusBadRequest || !unfinished.Match(r.raw) {
			t.Errorf("deleting an unfinished submission: %d %s", r.code, r.raw)
		}
	})
}
