package sendmailtest

import (
	"reflect"
	"testing"
)

func TestParseQueue(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want []QueueEntry
	}{
		{"empty", "/tmp/x/queue is empty\n", nil},
		{"deferred with flags", `		/tmp/x/queue (1 request)
-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------
6ATNk9Yq003152     5871 Sun Nov 29 23:46 <alice@corp.example>
                 8BITMIME   (Deferred: 451 4.3.2 Please try again later)
					 <bob@partner.example>
		Total requests: 1
`, []QueueEntry{{ID: "6ATNk9Yq003152", Reason: "(Deferred: 451 4.3.2 Please try again later)", Recipients: []string{"bob@partner.example"}}}},
		{"two, one being delivered", `6ATNk9Yq003152*    120 Sun Nov 29 23:46 <a@x.example>
					 <b@y.example>
					 <c@y.example>
6ATNk9Yq003153     120 Sun Nov 29 23:46 <a@x.example>
                 (Deferred: Connection refused by [127.0.0.1])
					 <d@y.example>
`, []QueueEntry{
			{ID: "6ATNk9Yq003152", Recipients: []string{"b@y.example", "c@y.example"}},
			{ID: "6ATNk9Yq003153", Reason: "(Deferred: Connection refused by [127.0.0.1])", Recipients: []string{"d@y.example"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseQueue(tt.out); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseQueue:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
