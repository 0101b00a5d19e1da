// Package pdfmail turns an e-mail message into an encrypted PDF: the PDF fallback for
// recipients who have no S/MIME or OpenPGP key.
//
// Render parses the message (RFC 5322, MIME), lays out a header block, the body text
// and a list of attachments with our own word wrapping and pagination (gopdf's
// MultiCell drops overflowing text) in bundled Unicode fonts (the Go fonts: Latin,
// Greek, Cyrillic). Characters the font cannot show are replaced visibly, never
// dropped. Encrypt embeds the original message as message.eml and every attachment as
// a PDF file attachment, and encrypts the whole file with AES-256, revision 6 (PDF 2.0)
// through pdfcpu. gopdf's own password protection (RC4-40) is never used.
//
// The package knows nothing of milters, policy or certificates: bytes in, bytes out.
package pdfmail
