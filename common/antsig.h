/*
 * antsig.h
 *	  Antom (AMS) message signatures: RSA-SHA256 PKCS#1 v1.5 over
 *	  "<METHOD> <path>\n<Client-Id>.<time>.<body>", base64 then URL-encoded.
 *
 * Pure C on OpenSSL 3, no PostgreSQL dependency and no allocation of its own
 * (OpenSSL allocates internally): shared by the extension and the sandbox
 * acquirer.  Callers turn the error strings into their own error reports.
 */
#ifndef ANTSIG_H
#define ANTSIG_H

#include <stddef.h>
#include <openssl/evp.h>

/* Room for a URL-encoded base64 RSA signature up to 4096-bit keys, plus NUL. */
#define ANTSIG_MAX_ENCODED	2200

/* Room for a "Signature:" header value around such a signature. */
#define ANTSIG_MAX_HEADER	(ANTSIG_MAX_ENCODED + 64)

/* The parts of one signed message: method, path, client id, time, body. */
typedef struct AntSigMessage
{
	const char *method;			/* "POST" */
	const char *path;			/* "/ams/api/v1/payments/pay", no host */
	const char *client_id;		/* the Client-Id header value */
	const char *time;			/* Request-Time / response-time, verbatim */
	const char *body;			/* the exact bytes sent */
	size_t		body_len;
} AntSigMessage;

/* Load an RSA private key: PEM or bare base64 DER, PKCS#1 or PKCS#8. */
extern EVP_PKEY *antsig_load_private(const char *text, size_t len,
									 char *err, size_t errlen);

/* Load an RSA public key: PEM or bare base64 DER, SubjectPublicKeyInfo or PKCS#1. */
extern EVP_PKEY *antsig_load_public(const char *text, size_t len,
									char *err, size_t errlen);

/* Sign a message; writes the URL-encoded base64 signature into out. */
extern int	antsig_sign(EVP_PKEY *key, const AntSigMessage *msg,
						char out[ANTSIG_MAX_ENCODED]);

/* Verify a URL-encoded base64 signature over a message: 1 good, 0 not. */
extern int	antsig_verify(EVP_PKEY *key, const AntSigMessage *msg,
						  const char *encoded_signature);

/* Format "algorithm=RSA256,keyVersion=N,signature=S" into out. */
extern int	antsig_format_header(char *out, size_t outlen, int key_version,
								 const char *encoded_signature);

/* Find the signature= value in a Signature header; 1 found, 0 not. */
extern int	antsig_parse_header(const char *header, char *out, size_t outlen);

#endif							/* ANTSIG_H */
