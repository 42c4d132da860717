/*
 * antom_api.c
 *	  The table of Antom Auto Debit APIs (see antom_api.h).
 */
#include "antom_api.h"

#include <stddef.h>
#include <string.h>

const AntomApi antom_apis[] = {
	{"consult", "authorizations/consult", false, NULL, NULL, false},
	{"applyToken", "authorizations/applyToken", false, "refreshToken", NULL, false},
	{"revoke", "authorizations/revoke", false, "accessToken", NULL, false},
	{"pay", "payments/pay", true, "paymentMethod.paymentMethodId", "paymentRequestId", true},
	{"inquiryPayment", "payments/inquiryPayment", false, NULL, "paymentRequestId", false},
	{"cancel", "payments/cancel", true, NULL, "paymentRequestId", false},
	{"refund", "payments/refund", true, NULL, "refundRequestId", true},
	{"inquiryRefund", "payments/inquiryRefund", false, NULL, "refundRequestId", false},
	{NULL, NULL, false, NULL, NULL, false}
};

/* Index of the API called name, or -1. */
int
antom_api_by_name(const char *name)
{
	for (int i = 0; antom_apis[i].name; i++)
		if (strcmp(antom_apis[i].name, name) == 0)
			return i;
	return -1;
}

/* Index of the API at path (under /v1/), or -1. */
int
antom_api_by_path(const char *path)
{
	for (int i = 0; antom_apis[i].name; i++)
		if (strcmp(antom_apis[i].path, path) == 0)
			return i;
	return -1;
}
