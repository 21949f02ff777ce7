"""Photos from phones: upload one at a time (as wx.uploadFile sends it), fetch with access."""
