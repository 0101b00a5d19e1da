package pdfmail

// labels are the few words of the PDF itself, per language.
type labels struct {
	From, To, Cc, Date, Subject string
	Page                        string
	Attachments                 string
	NoAttachments               string
	Embedded                    string
	HTMLNote                    string
	Replaced                    string
	Damaged                     string
	Truncated                   string
	NoBody                      string
	Converted                   string
}

var labelsByLang = map[string]labels{
	"en": {
		From: "From:", To: "To:", Cc: "Cc:", Date: "Date:", Subject: "Subject:",
		Page:          "Page",
		Attachments:   "Attachments",
		NoAttachments: "This message has no attachments.",
		Embedded: "The original message (message.eml) and every attachment are embedded in " +
			"this PDF: open your PDF reader's attachments panel to save them.",
		HTMLNote: "This message was written in HTML and is shown as text; link targets " +
			"are in <angle brackets>.",
		Replaced: "Characters this PDF cannot show were replaced by \uFFFD and their code " +
			"point [U+…]; the original message (message.eml) has them all.",
		Damaged: "Part of this message's structure could not be read; the original " +
			"message (message.eml) is embedded unchanged.",
		Truncated: "The text is too long to show here in full: %d more bytes are in " +
			"the embedded original message (message.eml).",
		NoBody:    "(This message has no text.)",
		Converted: "Converted to PDF on %s.",
	},
	"de": {
		From: "Von:", To: "An:", Cc: "Kopie:", Date: "Datum:", Subject: "Betreff:",
		Page:          "Seite",
		Attachments:   "Anhänge",
		NoAttachments: "Diese Nachricht hat keine Anhänge.",
		Embedded: "Die Originalnachricht (message.eml) und alle Anhänge sind in diese PDF " +
			"eingebettet: Sie finden sie in der Anhangsleiste Ihres PDF-Programms.",
		HTMLNote: "Diese Nachricht wurde als HTML geschrieben und wird als Text gezeigt; " +
			"Linkziele stehen in <spitzen Klammern>.",
		Replaced: "Zeichen, die diese PDF nicht darstellen kann, sind durch \uFFFD und " +
			"ihren Code [U+…] ersetzt; die Originalnachricht (message.eml) enthält sie alle.",
		Damaged: "Ein Teil der Nachrichtenstruktur war nicht lesbar; die Originalnachricht " +
			"(message.eml) ist unverändert eingebettet.",
		Truncated: "Der Text ist zu lang, um hier ganz gezeigt zu werden: weitere %d Bytes " +
			"stehen in der eingebetteten Originalnachricht (message.eml).",
		NoBody:    "(Diese Nachricht enthält keinen Text.)",
		Converted: "In PDF umgewandelt am %s.",
	},
}

func labelsFor(lang string) labels {
	if l, ok := labelsByLang[lang]; ok {
		return l
	}
	return labelsByLang["en"]
}
