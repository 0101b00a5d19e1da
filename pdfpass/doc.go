// Package pdfpass carries the password of an encrypted PDF to the person who
// opens it, by a channel other than the mail that carries the PDF: here the
// SMS webhook (pdf.password_delivery: sms), its numbers file and body template.
//
// It knows nothing of milter or policy; the milter calls it before it hands
// the PDF over, so a PDF never leaves without its password reaching someone.
package pdfpass
