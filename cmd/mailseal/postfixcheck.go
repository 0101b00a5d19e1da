package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/mailseal/mailseal/config"
)

// outboundTLSRules lists the rules whose require_tls Postfix enforces
// through smtp_tls_policy_maps (inbound ones the milter enforces itself).
func outboundTLSRules(cfg *config.Config) []string {
	var names []string
	for i, r := range cfg.Policy.Rules {
		if r.RequireTLS && r.Direction != "inbound" {
			name := r.Name
			if name == "" {
				name = fmt.Sprintf("policy.rules[%d]", i)
			}
			names = append(names, name)
		}
	}
	return names
}

// routingParams are the Postfix settings that change the next hop. Postfix
// looks smtp_tls_policy_maps up by next-hop destination, so with a relay
// host it asks for the relay, never for the partner's domain.
var routingParams = []string{"relayhost", "transport_maps", "sender_dependent_relayhost_maps", "default_transport"}

// tlsBypassWarnings reads Postfix's routing with postconf (MAIL_CONFIG picks
// another instance) and says which settings keep require_tls rules from
// being enforced. Without postconf or a readable main.cf it says nothing:
// mailseal may run on another host than Postfix.
func tlsBypassWarnings(cfg *config.Config) []string {
	rules := outboundTLSRules(cfg)
	if len(rules) == 0 {
		return nil
	}
	path, err := exec.LookPath("postconf")
	if err != nil {
		for _, dir := range []string{"/usr/sbin/postconf", "/usr/local/sbin/postconf"} {
			if _, err := exec.LookPath(dir); err == nil {
				path = dir
				break
			}
		}
	}
	if path == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, routingParams...).Output()
	if err != nil {
		return nil
	}
	return bypassFromPostconf(string(out), rules)
}

// bypassFromPostconf turns `postconf NAME...` output into warnings.
func bypassFromPostconf(out string, rules []string) []string {
	values := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, " = "); ok {
			values[strings.TrimSpace(k)] = strings.TrimSpace(v)
		} else if k, ok := strings.CutSuffix(strings.TrimSpace(line), " ="); ok {
			values[k] = ""
		}
	}
	which := "require_tls rules (" + strings.Join(rules, ", ") + ")"
	var ws []string
	if v := values["relayhost"]; v != "" {
		ws = append(ws, fmt.Sprintf("Postfix relayhost = %s: all outbound mail goes to that relay, so Postfix looks up the TLS policy for the relay, not for the partner, and the %s are NOT enforced; per-partner TLS needs direct delivery (see docs/policy.md)", v, which))
	}
	if v := values["sender_dependent_relayhost_maps"]; v != "" {
		ws = append(ws, fmt.Sprintf("Postfix sender_dependent_relayhost_maps = %s: mail of senders listed there goes to a relay and the %s are NOT enforced for it (see docs/policy.md)", v, which))
	}
	if v := values["transport_maps"]; v != "" {
		ws = append(ws, fmt.Sprintf("Postfix transport_maps = %s: a partner routed there to another next hop is looked up under that next hop, and the %s are NOT enforced for it; route each require_tls partner there to its own domain (partner.example smtp:partner.example), see docs/policy.md", v, which))
	}
	// "relay" or "smtp" alone still deliver to the recipient's domain; only
	// an explicit next hop ("smtp:[relay.example]") bypasses the lookup.
	if v := values["default_transport"]; hasNextHop(v) {
		ws = append(ws, fmt.Sprintf("Postfix default_transport = %s: outbound mail goes to that transport's next hop, not to the partner, and the %s are NOT enforced (see docs/policy.md)", v, which))
	}
	return ws
}

func hasNextHop(transport string) bool {
	_, nexthop, _ := strings.Cut(transport, ":")
	return strings.TrimSpace(nexthop) != ""
}
