package pdfmail

import (
	"fmt"
	"strings"
)

// SMSSenderNotice tells the sender that their message went out as an
// encrypted PDF and that each recipient got the password by SMS. It holds
// no password; sentTo lists "recipient (number's last digits)".
func SMSSenderNotice(lang string, sentTo []string, subject string) Notice {
	list := "- " + strings.Join(sentTo, "\n- ")
	if lang == "de" {
		return Notice{
			Subject: "Ihre Nachricht ging als verschlüsselte PDF hinaus",
			Body: fmt.Sprintf("Ihre Nachricht „%s“ wurde als verschlüsselte PDF zugestellt, weil für "+
				"diese Empfänger kein Schlüssel bekannt ist. Das Passwort ging per SMS an:\n\n%s\n\n"+
				"Sie müssen nichts weiter tun.\n", subject, list),
		}
	}
	return Notice{
		Subject: "Your message went out as an encrypted PDF",
		Body: fmt.Sprintf("Your message \"%s\" was delivered as an encrypted PDF, because no key "+
			"is known for these recipients. The password went by text message (SMS) to:\n\n%s\n\n"+
			"There is nothing more for you to do.\n", subject, list),
	}
}
