package policy

import "fmt"

// RejectsUnauthorisedInternal reports whether policy.unauthorised_internal
// is reject: mail from an internal-domain sender the client is not
// authorised to send as (Plan.Unauthorised) is refused instead of passing
// unsigned.
func (e *Engine) RejectsUnauthorisedInternal() bool {
	return e != nil && e.unauthorised == UnauthorisedReject
}

// UnauthorisedRejection is the refusal for such mail: it tells the sender
// why and what to do.
func UnauthorisedRejection(sender string) Rejection {
	if !isASCII(sender) {
		return Rejection{
			Code:     550,
			Enhanced: "5.7.1",
			// The address is not echoed: SMTP replies are ASCII.
			Text: "Mail from this sender address must be signed by this gateway, but certificates name plain ASCII addresses only: " +
				"send from your ASCII address",
			Rule: "unauthorised_internal",
		}
	}
	return Rejection{
		Code:     550,
		Enhanced: "5.7.1",
		Text: fmt.Sprintf("Mail from <%s> must be signed by this gateway, but you are not logged in as that sender: "+
			"log in (SMTP AUTH) as %s or with a login allowed to send as it", sender, sender),
		Rule: "unauthorised_internal",
	}
}
