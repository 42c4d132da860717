// The mini program's App: where the merchant backend is.  ext.json (my.getExtConfigSync) lets one
// package run against several backends; the simulator passes its ?backend= that way.
const ext = (my.getExtConfigSync && my.getExtConfigSync()) || {};

App({
  globalData: {
    backend: ext.backend || 'https://merchant.example/api',
    // Stand-in for your login session (my.getAuthCode -> your user id); see README.md.
    customerRef: ext.customerRef || 'customer-1',
  },
});
