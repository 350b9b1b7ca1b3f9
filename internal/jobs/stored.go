package jobs

import (
	"encoding/json"

	"github.com/airlock-dev/airlock"
)

// A job's request and result are stored as the JSON of airlock.Request
// and airlock.Result, whose every field names its key in a tag: the keys
// are the Go names the fields had when jobs were first stored, and stay
// so whatever the fields are called (testdata/stored_*.json and
// TestStoredFormat hold them). The request's encoding is also what an
// idempotency key's RequestHash is taken of, so it must not drift either.

func encodeRequest(req airlock.Request) ([]byte, error) { return json.Marshal(req) }

func decodeRequest(data []byte) (airlock.Request, error) {
	var req airlock.Request
	err := json.Unmarshal(data, &req)
	return req, err
}

func encodeResult(res airlock.Result) ([]byte, error) { return json.Marshal(res) }

func decodeResult(data []byte) (airlock.Result, error) {
	var res airlock.Result
	err := json.Unmarshal(data, &res)
	return res, err
}
