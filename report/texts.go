package report

// texts holds one language's wording.
type texts struct {
	width                                        int
	title, checkedBy, sender, result, meaning    string
	detail, signer, name, email, certificate     string
	issuedBy, anchor, algorithm, signingTime     string
	claimed, revocation, verdict, fingerprint    string
	keyValid, certFmt, noCert, noChain, answerOf string
	revGood, revRevoked, revokedAt, revOff       string
	revUnknown, revNotChecked, pgpAnchor         string
	pgpRevocation, footer                        string
	headings                                     map[string]string
	meanings                                     map[string]string
}

func textsFor(lang string) *texts {
	if lang == German {
		return &de
	}
	return &en
}

// heading names a result for people.
func (t *texts) heading(result string) string {
	if h, ok := t.headings[result]; ok {
		return h
	}
	return t.headings["fail"]
}

// means says in plain words what a code means for the reader.
func (t *texts) means(code string) string {
	if m, ok := t.meanings[code]; ok {
		return m
	}
	return t.meanings["fail"]
}

var en = texts{
	width:         17,
	title:         "Signature verification report",
	checkedBy:     "Checked by",
	sender:        "Sender (From)",
	result:        "Result",
	meaning:       "What this means",
	detail:        "Technical detail",
	signer:        "Signer",
	name:          "Name",
	email:         "E-mail",
	certificate:   "Certificate",
	issuedBy:      "Issued by",
	anchor:        "Vouched for by",
	algorithm:     "Algorithm",
	signingTime:   "Signed at",
	claimed:       "(as the sender's computer states; not checked)",
	revocation:    "Revocation",
	verdict:       "Verdict",
	fingerprint:   "Fingerprint",
	keyValid:      "Key valid until",
	certFmt:       "serial %s, valid from %s until %s",
	noCert:        "not included in the signature",
	noChain:       "no trusted authority found",
	answerOf:      " (answer of %s)",
	revGood:       "not revoked, checked by %s",
	revRevoked:    "REVOKED, according to %s",
	revokedAt:     " since %s",
	revOff:        "not checked (revocation checking is switched off on this gateway)",
	revUnknown:    "could not be checked: %s",
	revNotChecked: "not checked",
	pgpAnchor:     "the key is in this gateway's key directory for the sender's address",
	pgpRevocation: "as stored in the key directory (revoked or expired keys are not used); no online check",
	footer: "This report was added by your mail gateway. The original message is\n" +
		"attached unchanged as the first part, so your mail program can check\n" +
		"the signature itself.",
	headings: map[string]string{
		"pass":      "VALID signature",
		"fail":      "INVALID signature",
		"neutral":   "only partly signed",
		"policy":    "signature not accepted",
		"temperror": "signature could not be checked right now",
		"permerror": "signature damaged, cannot be checked",
		"none":      "not signed",
	},
	meanings: map[string]string{
		"pass":                  "The message was signed by the person named below and has not been changed since; an authority this gateway trusts vouches for the signer's identity.",
		"fail":                  "The signature is not valid: do not rely on who the message claims to be from.",
		"expired":               "The signer's certificate has expired, so the signature no longer proves who sent the message.",
		"not-yet-valid":         "The signer's certificate is not valid yet; the signature does not prove who sent the message (the sender's clock or certificate may be wrong).",
		"revoked":               "The signer's certificate was revoked by its issuer, often because the key was lost or stolen: someone else may have signed this message.",
		"untrusted":             "The signer's certificate was not issued by an authority this gateway trusts, so anyone could have made it: the signature does not prove who sent the message.",
		"wrong-eku":             "The signer's certificate is not meant for signing e-mail, so the signature does not prove who sent the message.",
		"key-usage":             "The signer's certificate may not be used for signatures, so the signature does not prove who sent the message.",
		"weak-digest":           "The signature uses an outdated method that can be forged, so it does not prove who sent the message or that it is unchanged.",
		"weak-key":              "The signer's key is too weak to be safe, so the signature does not prove who sent the message.",
		"from-mismatch":         "The message was signed by someone else than the sender address it shows: it may be an attempt to impersonate that sender.",
		"bad-signature":         "The message was changed after it was signed, or the signature is forged: do not trust its content.",
		"content-mismatch":      "The signed text differs from the text the message shows: do not trust its content.",
		"no-signer":             "The signature names no signer, so it proves nothing.",
		"malformed":             "The signature or the message is damaged and could not be checked; it proves nothing.",
		"type-mismatch":         "The message claims to be a different kind of S/MIME message than it is; the signature proves nothing.",
		"unsupported-algorithm": "The signature uses a method this gateway cannot check; it proves nothing here, though your mail program may be able to check it.",
		"revocation-unknown":    "Whether the signer's certificate was revoked could not be found out, so the signature is not confirmed.",
		"internal":              "The gateway could not check the signature because of an internal error; the signature is not confirmed.",
		"partial":               "Only a part of the message is signed; the rest could have been added by anyone on the way.",
		"unsigned":              "The message carries no signature, so nothing proves who sent it.",
		"not-smime":             "The message is signed with OpenPGP, not S/MIME.",
		"encrypted":             "The message is encrypted; its signature could not be seen.",
		"pgp-pass":              "The message was signed with the OpenPGP key this gateway holds for the sender and has not been changed since.",
		"pgp-bad-signature":     "The OpenPGP signature does not match the message: it was changed after signing, or the signature is forged.",
		"pgp-unknown-key":       "The message is signed with an OpenPGP key this gateway does not know for the sender, so the signature does not prove who sent it.",
		"pgp-malformed":         "The OpenPGP signature is damaged and could not be checked; it proves nothing.",
		"pgp-key-expired":       "The OpenPGP key the message is signed with has expired, so the signature no longer proves who sent it.",
		"pgp-key-revoked":       "The OpenPGP key the message is signed with was revoked by its owner, often because it was lost or stolen: someone else may have signed this message.",
		"pgp-weak":              "The OpenPGP signature uses a method too weak to be safe, so it does not prove who sent the message or that it is unchanged.",
		"pgp-internal":          "The gateway could not check the OpenPGP signature right now; the signature is not confirmed.",
	},
}

var de = texts{
	width:         19,
	title:         "Signaturprüfbericht",
	checkedBy:     "Geprüft von",
	sender:        "Absender (From)",
	result:        "Ergebnis",
	meaning:       "Was das bedeutet",
	detail:        "Technische Angabe",
	signer:        "Unterzeichner",
	name:          "Name",
	email:         "E-Mail",
	certificate:   "Zertifikat",
	issuedBy:      "Ausgestellt von",
	anchor:        "Bestätigt durch",
	algorithm:     "Verfahren",
	signingTime:   "Signiert am",
	claimed:       "(Angabe des Absender-Rechners, nicht geprüft)",
	revocation:    "Sperrprüfung",
	verdict:       "Urteil",
	fingerprint:   "Fingerabdruck",
	keyValid:      "Gültig bis",
	certFmt:       "Seriennummer %s, gültig von %s bis %s",
	noCert:        "nicht in der Signatur enthalten",
	noChain:       "keine vertrauenswürdige Stelle gefunden",
	answerOf:      " (Auskunft vom %s)",
	revGood:       "nicht gesperrt, geprüft per %s",
	revRevoked:    "GESPERRT laut %s",
	revokedAt:     " seit %s",
	revOff:        "nicht geprüft (die Sperrprüfung ist auf diesem Gateway abgeschaltet)",
	revUnknown:    "konnte nicht geprüft werden: %s",
	revNotChecked: "nicht geprüft",
	pgpAnchor:     "der Schlüssel steht im Schlüsselverzeichnis dieses Gateways für die Absenderadresse",
	pgpRevocation: "laut Schlüsselverzeichnis (widerrufene oder abgelaufene Schlüssel werden nicht verwendet); keine Online-Prüfung",
	footer: "Dieser Bericht wurde von Ihrem Mail-Gateway hinzugefügt. Die ursprüngliche\n" +
		"Nachricht ist unverändert als erster Teil enthalten, so dass Ihr\n" +
		"E-Mail-Programm die Signatur selbst prüfen kann.",
	headings: map[string]string{
		"pass":      "GÜLTIGE Signatur",
		"fail":      "UNGÜLTIGE Signatur",
		"neutral":   "nur teilweise signiert",
		"policy":    "Signatur nicht anerkannt",
		"temperror": "Signatur konnte gerade nicht geprüft werden",
		"permerror": "Signatur beschädigt, nicht prüfbar",
		"none":      "nicht signiert",
	},
	meanings: map[string]string{
		"pass":                  "Die Nachricht wurde von der unten genannten Person signiert und seitdem nicht verändert; eine Stelle, der dieses Gateway vertraut, bestätigt ihre Identität.",
		"fail":                  "Die Signatur ist ungültig: Verlassen Sie sich nicht darauf, von wem die Nachricht zu sein scheint.",
		"expired":               "Das Zertifikat des Unterzeichners ist abgelaufen; die Signatur beweist daher nicht mehr, wer die Nachricht geschickt hat.",
		"not-yet-valid":         "Das Zertifikat des Unterzeichners ist noch nicht gültig; die Signatur beweist nicht, wer die Nachricht geschickt hat (Uhr oder Zertifikat des Absenders können falsch sein).",
		"revoked":               "Das Zertifikat des Unterzeichners wurde von seinem Aussteller gesperrt, oft weil der Schlüssel verloren oder gestohlen wurde: Jemand anderes kann diese Nachricht signiert haben.",
		"untrusted":             "Das Zertifikat des Unterzeichners stammt nicht von einer Stelle, der dieses Gateway vertraut, und könnte von jedem erstellt worden sein: Die Signatur beweist nicht, wer die Nachricht geschickt hat.",
		"wrong-eku":             "Das Zertifikat des Unterzeichners ist nicht für das Signieren von E-Mail bestimmt; die Signatur beweist nicht, wer die Nachricht geschickt hat.",
		"key-usage":             "Das Zertifikat des Unterzeichners darf nicht für Signaturen verwendet werden; die Signatur beweist nicht, wer die Nachricht geschickt hat.",
		"weak-digest":           "Die Signatur verwendet ein veraltetes, fälschbares Verfahren; sie beweist weder den Absender noch, dass die Nachricht unverändert ist.",
		"weak-key":              "Der Schlüssel des Unterzeichners ist zu schwach, um sicher zu sein; die Signatur beweist nicht, wer die Nachricht geschickt hat.",
		"from-mismatch":         "Die Nachricht wurde von jemand anderem signiert als der angezeigten Absenderadresse: Das kann ein Versuch sein, sich als dieser Absender auszugeben.",
		"bad-signature":         "Die Nachricht wurde nach dem Signieren verändert oder die Signatur ist gefälscht: Vertrauen Sie dem Inhalt nicht.",
		"content-mismatch":      "Der signierte Text weicht vom angezeigten Text ab: Vertrauen Sie dem Inhalt nicht.",
		"no-signer":             "Die Signatur nennt keinen Unterzeichner und beweist daher nichts.",
		"malformed":             "Die Signatur oder die Nachricht ist beschädigt und konnte nicht geprüft werden; sie beweist nichts.",
		"type-mismatch":         "Die Nachricht gibt sich als andere Art von S/MIME-Nachricht aus, als sie ist; die Signatur beweist nichts.",
		"unsupported-algorithm": "Die Signatur verwendet ein Verfahren, das dieses Gateway nicht prüfen kann; hier beweist sie nichts, Ihr E-Mail-Programm kann sie vielleicht prüfen.",
		"revocation-unknown":    "Ob das Zertifikat des Unterzeichners gesperrt ist, ließ sich nicht feststellen; die Signatur ist daher nicht bestätigt.",
		"internal":              "Das Gateway konnte die Signatur wegen eines internen Fehlers nicht prüfen; die Signatur ist nicht bestätigt.",
		"partial":               "Nur ein Teil der Nachricht ist signiert; der Rest kann unterwegs von jedem hinzugefügt worden sein.",
		"unsigned":              "Die Nachricht trägt keine Signatur; nichts beweist, wer sie geschickt hat.",
		"not-smime":             "Die Nachricht ist mit OpenPGP signiert, nicht mit S/MIME.",
		"encrypted":             "Die Nachricht ist verschlüsselt; ihre Signatur war nicht sichtbar.",
		"pgp-pass":              "Die Nachricht wurde mit dem OpenPGP-Schlüssel signiert, den dieses Gateway für den Absender kennt, und seitdem nicht verändert.",
		"pgp-bad-signature":     "Die OpenPGP-Signatur passt nicht zur Nachricht: Sie wurde nach dem Signieren verändert oder die Signatur ist gefälscht.",
		"pgp-unknown-key":       "Die Nachricht ist mit einem OpenPGP-Schlüssel signiert, den dieses Gateway für den Absender nicht kennt; die Signatur beweist nicht, wer sie geschickt hat.",
		"pgp-malformed":         "Die OpenPGP-Signatur ist beschädigt und konnte nicht geprüft werden; sie beweist nichts.",
		"pgp-key-expired":       "Der OpenPGP-Schlüssel, mit dem die Nachricht signiert ist, ist abgelaufen; die Signatur beweist nicht mehr, wer sie geschickt hat.",
		"pgp-key-revoked":       "Der OpenPGP-Schlüssel, mit dem die Nachricht signiert ist, wurde von seinem Inhaber widerrufen, oft weil er verloren oder gestohlen wurde: Jemand anderes kann diese Nachricht signiert haben.",
		"pgp-weak":              "Die OpenPGP-Signatur verwendet ein zu schwaches Verfahren; sie beweist weder den Absender noch, dass die Nachricht unverändert ist.",
		"pgp-internal":          "Das Gateway konnte die OpenPGP-Signatur gerade nicht prüfen; die Signatur ist nicht bestätigt.",
	},
}
