package mcp

// idempotentMethods are the JSON-RPC methods that are safe to send twice.
//
// The list is an allowlist on purpose: the cost of wrongly calling a method
// idempotent is a duplicated side effect (a tool run twice, a message sent
// twice, a task cancelled that was since restarted), while the cost of
// wrongly calling it non-idempotent is only a retry that does not happen.
// Methods that merely set state to a given value (logging/setLevel) count as
// idempotent because repeating them converges on the same state. Methods that
// open a stream for updates (tasks/resubscribe, SubscribeToTask,
// subscriptions/listen) are reads: reopening the stream changes nothing on
// the server. initialize creates a session, but a duplicate only leaves an
// unused session that expires, which is the outcome the spec already
// tolerates for abandoned clients.
var idempotentMethods = map[string]struct{}{
	// MCP requests.
	"initialize":               {},
	"ping":                     {},
	"server/discover":          {},
	"tools/list":               {},
	"resources/list":           {},
	"resources/templates/list": {},
	"resources/read":           {},
	"prompts/list":             {},
	"prompts/get":              {},
	"completion/complete":      {},
	"logging/setLevel":         {},
	"roots/list":               {},
	"subscriptions/listen":     {},
	"tasks/get":                {}, // also A2A v0.3
	"tasks/list":               {}, // also A2A v0.3
	"tasks/result":             {},

	// MCP notifications: one-way signals (progress, cancellation, list
	// changes) whose repetition the receiver already has to tolerate.
	"notifications/initialized":                {},
	"notifications/cancelled":                  {},
	"notifications/progress":                   {},
	"notifications/message":                    {},
	"notifications/roots/list_changed":         {},
	"notifications/resources/list_changed":     {},
	"notifications/resources/updated":          {},
	"notifications/tools/list_changed":         {},
	"notifications/prompts/list_changed":       {},
	"notifications/tasks/status":               {},
	"notifications/elicitation/complete":       {},
	"notifications/subscriptions/acknowledged": {},

	// A2A v0.3 JSON-RPC.
	"tasks/resubscribe":                  {},
	"tasks/pushNotificationConfig/get":   {},
	"tasks/pushNotificationConfig/list":  {},
	"agent/getAuthenticatedExtendedCard": {},
	"agent/authenticatedExtendedCard":    {},

	// A2A v1.0 JSON-RPC.
	"GetTask":                         {},
	"ListTasks":                       {},
	"SubscribeToTask":                 {},
	"GetTaskPushNotificationConfig":   {},
	"ListTaskPushNotificationConfig":  {},
	"ListTaskPushNotificationConfigs": {},
	"GetExtendedAgentCard":            {},
	"GetAuthenticatedExtendedCard":    {},
}

// NonIdempotent reports whether method has side effects a retry could repeat.
//
// Unknown methods are non-idempotent: the gateway cannot know what a custom
// method does, and only the retry, not correctness, is lost by assuming the
// worst. Known side-effecting methods (tools/call, resources/subscribe,
// sampling/createMessage, elicitation/create, A2A message/send, tasks/cancel,
// push-notification config changes, ...) fall into that default rather than
// being listed, so a typo in a list cannot make them retryable.
//
// The empty method is what ParseBody reports for JSON-RPC responses (a
// client answering a server-initiated request). It is idempotent because
// the peer matches responses by id and discards one for an id it already
// settled; ParseBody never reports an empty method for a request.
func NonIdempotent(method string) bool {
	if method == "" {
		return false
	}
	_, ok := idempotentMethods[method]
	return !ok
}
