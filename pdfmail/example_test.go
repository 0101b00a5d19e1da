package pdfmail_test

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/mailseal/mailseal/pdfmail"
)

func ExampleBuild() {
	msg := []byte("From: alice@corp.example\r\nTo: bob@partner.example\r\nSubject: Vertrag\r\n\r\nHallo Bob.\r\n")
	user, err := pdfmail.NewPassword(rand.Reader)
	if err != nil {
		panic(err)
	}
	owner, err := pdfmail.NewOwnerPassword(rand.Reader)
	if err != nil {
		panic(err)
	}
	pdf, err := pdfmail.Build(msg, pdfmail.Options{Lang: "de", Now: time.Now(), MaxSize: 64 << 20}, user, owner)
	if err != nil {
		panic(err)
	}
	notice := pdfmail.SenderNotice("en", "bob@partner.example", "Vertrag", user)
	fmt.Println(string(pdf[:8]), len(user), notice.Subject)
	// Output: %PDF-2.0 19 Password for your message to bob@partner.example
}
