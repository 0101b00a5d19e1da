package smime

import "encoding/asn1"

// Object identifiers of the encryption code (RFC 5652, 5083, 5084, 3565,
// 4055, 5753, 5480, 8551).
var (
	oidData                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidEnvelopedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidAuthEnvelopedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 23}
	oidAES128GCM            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 6}
	oidAES192GCM            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 26}
	oidAES256GCM            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}
	oidAES128Wrap           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 5}
	oidAES192Wrap           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 25}
	oidAES256Wrap           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 45}
	oidRSAOAEP              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
	oidMGF1                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidPSpecified           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 9}
	oidSHA1                 = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA224               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	oidSHA256               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidECPublicKey          = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidP256                 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384                 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521                 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidECDHSHA1KDF          = asn1.ObjectIdentifier{1, 3, 133, 16, 840, 63, 0, 2}
	oidECDHSHA224KDF        = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 0}
	oidECDHSHA256KDF        = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 1}
	oidECDHSHA384KDF        = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 2}
	oidECDHSHA512KDF        = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 3}
	oidSubjectKeyIdentifier = asn1.ObjectIdentifier{2, 5, 29, 14}
)
