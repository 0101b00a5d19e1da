package pdfmail

// HTMLText turns an HTML document into readable plain text the way the PDF
// shows it: block elements become line breaks, links are written
// "text <url>", images become their alt text, script and style are dropped.
// Nothing in the result is active. It never fails or panics; on a parser
// failure the markup itself is returned (as text, still inactive).
func HTMLText(src string) string { return htmlToText(src) }
