package judge0

import (
	"context"
	"net/http"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/webhook"
)

// callbackBody is Judge0's callback: a PUT of the default fields in
// base64, each of its tries bounded by 5 s, retried only when it fails.
func (s *Server) callbackBody(j *airlock.Job) (webhook.Call, error) {
	body, err := s.render(context.Background(), j, defaultFields, true)
	return webhook.Call{Method: http.MethodPut, Body: body, Timeout: callbackTimeout, AnyAnswer: true}, err
}

// callbackTimeout is Judge0's CALLBACKS_TIMEOUT default.
const callbackTimeout = 5 * time.Second
