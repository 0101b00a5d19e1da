// Package enroll issues certificates ahead of people's first mail: for
// addresses read from a list or CSV file, or for the members an LDAP
// directory search returns (once, or on a schedule with optional revocation
// of those who left). Issuance itself stays with certs.Manager, which
// guarantees one certificate per address however many callers ask.
package enroll
