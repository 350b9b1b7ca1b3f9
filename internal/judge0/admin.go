package judge0

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/airlock-dev/airlock"
)

// index is GET /submissions: every Judge0 submission, a page at a time,
// for an admin key (X-Auth-User).
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	fields, err := parseFields(r.URL.Query().Get("fields"))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	page, perPage := 1, 20
	if v := r.URL.Query().Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	if v := r.URL.Query().Get("per_page"); v != "" {
		perPage, _ = strconv.Atoi(v)
	}
	switch {
	case page <= 0:
		fail(w, http.StatusBadRequest, fmt.Sprintf("invalid page: %d", page))
		return
	case perPage <= 0:
		fail(w, http.StatusBadRequest, fmt.Sprintf("invalid per_page: %d", perPage))
		return
	}
	list, total, err := s.svc.List(r.Context(), Face, (page-1)*perPage, perPage)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	subs := []json.RawMessage{}
	for _, j := range list {
		body, ok := s.renderListed(w, r, j, fields, b64Param(r))
		if !ok {
			return
		}
		subs = append(subs, body)
	}
	pages := (total + perPage - 1) / perPage
	var next, prev any
	if page < pages {
		next = page + 1
	}
	if page > 1 {
		prev = page - 1
	}
	type meta struct {
		CurrentPage int `json:"current_page"`
		NextPage    any `json:"next_page"`
		PrevPage    any `json:"prev_page"`
		TotalPages  int `json:"total_pages"`
		TotalCount  int `json:"total_count"`
	}
	reply(w, http.StatusOK, struct {
		Submissions []json.RawMessage `json:"submissions"`
		Meta        meta              `json:"meta"`
	}{subs, meta{page, next, prev, pages, total}})
}

// destroy is DELETE /submissions/{token} for an admin key, when the
// operator enabled it: the finished submission, in base64, as it was.
func (s *Server) destroy(w http.ResponseWriter, r *http.Request) {
	fields, err := parseFields(r.URL.Query().Get("fields"))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if !s.opt.EnableDelete {
		fail(w, http.StatusBadRequest, "delete not allowed")
		return
	}
	j, err := s.svc.Get(r.Context(), r.PathValue("token"))
	if err == nil && j.Face != Face {
		err = airlock.ErrNotFound
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if st := statusOf(j, nil); st.ID <= 2 {
		fail(w, http.StatusBadRequest, fmt.Sprintf("submission cannot be deleted because its status is %d (%s)", st.ID, st.Description))
		return
	}
	body, err := s.render(r.Context(), j, fields, true) // base64: the data must survive the delete
	if err == nil {
		err = s.svc.Delete(r.Context(), j.ID)
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	reply(w, http.StatusOK, body)
}
