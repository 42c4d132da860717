// The auto-debit page of the merchant's mini program: the seed flow of Alipay+ Auto Debit.
//   1. my.getSiteInfo        which wallet (super app) the mini program runs in
//   2. POST /autodebit/start the backend consults the acquirer and answers authUrl
//   3. my.signContract       the wallet shows its consent page; on Agree: authCode, authState
//   4. POST /autodebit/finish the backend exchanges the code for a token and takes the first month
const app = getApp();

// Call the merchant backend; ok(data) on 2xx, bad(message) otherwise.
function call(method, path, data, ok, bad) {
  my.request({
    url: app.globalData.backend + path,
    method,
    data: method === 'POST' ? JSON.stringify(data) : undefined,
    headers: { 'Content-Type': 'application/json', 'X-Customer-Ref': app.globalData.customerRef },
    dataType: 'json',
    success: (res) => ok(res.data),
    // error 19: an HTTP error status; res.data is the backend's {"error": {...}}
    fail: (res) => bad((res.data && res.data.error && res.data.error.message) ||
                       'The network is not available (' + res.error + ').'),
  });
}

const PRICES = { GCASH: '₱299.00 a month', ALIPAY_HK: 'HK$38.00 a month', DANA: 'Rp75.000 a month', TNG: 'RM21.90 a month' };

Page({
  data: { step: 'start', siteName: '', price: '', busy: false, message: '', paymentStatus: '', orderRef: '' },

  onLoad() {
    my.getSiteInfo({
      success: (res) => this.setData({ siteName: res.siteName, price: PRICES[res.siteName] || '' }),
      // an unknown site: the backend would refuse it too
      fail: () => this.setData({ step: 'unsupported' }),
    });
  },

  onEnable() {
    this.setData({ busy: true, message: '' });
    call('POST', '/autodebit/start', { siteName: this.data.siteName }, (start) => {
      my.signContract({
        signStr: start.authUrl,
        success: (res) => this.finish(res.authState, res.authCode),
        fail: (err) => this.signFailed(start.authState, err),
      });
    }, (message) => this.setData({ busy: false, message }));
  },

  finish(authState, authCode) {
    call('POST', '/autodebit/finish', { authState, authCode }, (done) => {
      this.setData({ step: 'done', busy: false, paymentStatus: done.payment.status, orderRef: done.payment.orderRef });
    }, (message) => this.setData({ busy: false, message }));
  },

  // my.signContract's fail codes: 6001 the user cancelled, 6002 network error, 7001 outcome unknown
  // (the wallet may have agreed: ask the backend, which hears AUTHCODE_CREATED), 7002 signing failed.
  signFailed(authState, err) {
    const code = String(err.error);
    const say = {
      6001: 'You did not enable auto debit.',
      6002: 'The network is not available. Please try again.',
      7001: 'We are checking with your wallet. Please look again in a minute.',
      7002: 'Your wallet could not set up auto debit.',
    }[code] || 'Auto debit could not be enabled (' + code + ').';
    call('POST', '/autodebit/sign-failed', { authState, error: code }, (status) => {
      if (status.enabled)
        this.setData({ step: 'done', busy: false, paymentStatus: status.lastPayment ? status.lastPayment.status : 'due', orderRef: status.lastPayment ? status.lastPayment.orderRef : '' });
      else
        this.setData({ busy: false, message: say });
    }, () => this.setData({ busy: false, message: say }));
  },
});
