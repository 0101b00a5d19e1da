package pdfmail

import (
	"fmt"
	"strings"
)

// Notice is the subject and plain-text body of a mail mailseal sends about a PDF.
type Notice struct {
	Subject string
	Body    string
}

// PasswordDelivery says how the recipient gets the password (config
// pdf.password_delivery).
type PasswordDelivery string

const (
	// DeliverySender: the sender gets the password (SenderNotice) and passes it on,
	// best by phone.
	DeliverySender PasswordDelivery = "sender"
	// DeliverySMS: the password is sent to the recipient's phone by text message.
	DeliverySMS PasswordDelivery = "sms"
	// DeliveryFixed: a password agreed with the recipient beforehand.
	DeliveryFixed PasswordDelivery = "fixed"
)

// deliveryText completes "It reaches you …" / "Es erreicht Sie …".
var deliveryText = map[string]map[PasswordDelivery]string{
	"en": {
		DeliverySender: "from the sender, by phone or another way than e-mail",
		DeliverySMS:    "by text message (SMS) to your phone",
		DeliveryFixed:  "not at all: it is the password agreed with you beforehand",
	},
	"de": {
		DeliverySender: "vom Absender, telefonisch oder auf einem anderen Weg als per E-Mail",
		DeliverySMS:    "per SMS auf Ihr Telefon",
		DeliveryFixed:  "nicht gesondert: es ist das vorab mit Ihnen vereinbarte Passwort",
	},
}

// RecipientNotice is the text of the mail that carries the encrypted PDF to the
// recipient. sender is who wrote the message, subject its subject. lang is "de" or
// "en" (default); "de" gives German first, then English.
func RecipientNotice(lang string, delivery PasswordDelivery, sender, subject string) Notice {
	how := func(l string) string {
		if t, ok := deliveryText[l][delivery]; ok {
			return t
		}
		return deliveryText[l][DeliverySender]
	}
	en := fmt.Sprintf("%s sent you a confidential message. It is attached as an encrypted PDF "+
		"(%s).\n\nTo open it you need a password. It reaches you %s; it is never in this "+
		"e-mail. Any current PDF reader opens the file (Adobe Acrobat Reader, Firefox, Chrome, "+
		"Edge, Apple Preview). The original message and its attachments are embedded in the PDF.\n",
		sender, pdfFileName(subject), how("en"))
	de := fmt.Sprintf("%s hat Ihnen eine vertrauliche Nachricht geschickt. Sie ist als "+
		"verschlüsselte PDF angehängt (%s).\n\nZum Öffnen brauchen Sie ein Passwort. Es erreicht "+
		"Sie %s; in dieser E-Mail steht es nie. Jedes aktuelle PDF-Programm öffnet die Datei "+
		"(Adobe Acrobat Reader, Firefox, Chrome, Edge, Apple Vorschau). Die Originalnachricht "+
		"und ihre Anhänge sind in die PDF eingebettet.\n", sender, pdfFileName(subject), how("de"))
	if lang == "de" {
		return Notice{
			Subject: "Vertrauliche Nachricht: " + subject,
			Body:    de + "\n-- \n\n" + en,
		}
	}
	return Notice{Subject: "Confidential message: " + subject, Body: en}
}

// SenderNotice is the text of the mail that gives the sender the password, to be
// passed on to the recipient by another channel (phone, in person).
func SenderNotice(lang, recipient, subject, password string) Notice {
	if lang == "de" {
		return Notice{
			Subject: "Passwort für Ihre Nachricht an " + recipient,
			Body: fmt.Sprintf("Ihre Nachricht „%s“ an %s wurde als verschlüsselte PDF "+
				"zugestellt, weil für diesen Empfänger kein Schlüssel bekannt ist.\n\n"+
				"Passwort: %s\n\nBitte geben Sie es dem Empfänger auf anderem Weg, am besten "+
				"telefonisch – nicht per E-Mail. Ohne das Passwort kann niemand die PDF öffnen, "+
				"auch wir nicht.\n", subject, recipient, password),
		}
	}
	return Notice{
		Subject: "Password for your message to " + recipient,
		Body: fmt.Sprintf("Your message \"%s\" to %s was delivered as an encrypted PDF, "+
			"because no key is known for this recipient.\n\nPassword: %s\n\nPlease give it "+
			"to the recipient another way, best by phone - not by e-mail. Without the password "+
			"nobody can open the PDF, not even us.\n", subject, recipient, password),
	}
}

// PDFFileName is the name to give the encrypted PDF in the recipient's mail.
func PDFFileName(subject string) string { return pdfFileName(subject) }

func pdfFileName(subject string) string {
	name := strings.TrimSpace(safeName(subject))
	if r := []rune(name); len(r) > 60 {
		name = string(r[:60])
	}
	if name == "" || name == "attachment" {
		name = "message"
	}
	return name + ".pdf"
}
