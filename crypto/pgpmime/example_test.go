package pgpmime_test

import (
	"bytes"
	"fmt"
	"net/mail"
	"time"

	"github.com/mailseal/mailseal/crypto/pgpmime"
	"github.com/mailseal/mailseal/crypto/protect"
)

// The outbound path: the sender's own key, header protection, encryption
// to the partner and the sender; then the partner's side.
func Example() {
	now := time.Now()
	aliceKey, _ := pgpmime.GenerateKey("Alice", "alice@corp.example", pgpmime.KeyOptions{Algorithm: pgpmime.Curve25519})
	bobKey, _ := pgpmime.GenerateKey("Bob", "bob@partner.example", pgpmime.KeyOptions{Algorithm: pgpmime.Curve25519})
	alice, _ := pgpmime.ParsePrivateKey(aliceKey.Private, now) // unsealed by the caller
	bob, _ := pgpmime.ParsePublicKey(bobKey.Public, now)       // from the key directory

	inner, err := protect.Wrap(
		[]protect.Field{{Name: "From", Value: "alice@corp.example"}, {Name: "Subject", Value: "Offer"}},
		[]protect.Field{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}},
		[]byte("The figures.\r\n"), protect.Options{})
	if err != nil {
		panic(err)
	}
	enc, err := pgpmime.Encrypt(inner.Entity, alice, []*pgpmime.PublicKey{bob, alice.Public()})
	if err != nil {
		panic(err)
	}
	fmt.Println("outer Subject:", inner.OuterSubject)
	fmt.Println("outer type:", enc.ContentType[:len("multipart/encrypted")])

	bobPriv, _ := pgpmime.ParsePrivateKey(bobKey.Private, now)
	d, err := pgpmime.Decrypt(enc.ContentType, enc.Body, bobPriv, []*pgpmime.PublicKey{alice.Public()}, pgpmime.DecryptOptions{})
	if err != nil {
		panic(err)
	}
	m, _ := mail.ReadMessage(bytes.NewReader(d.Entity))
	fmt.Println("signature:", d.Signature, d.SignerFingerprint == aliceKey.Fingerprint)
	fmt.Println("inner Subject:", m.Header.Get("Subject"))
	// Output:
	// outer Subject: ...
	// outer type: multipart/encrypted
	// signature: good true
	// inner Subject: Offer
}
