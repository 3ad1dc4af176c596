"""Word timestamps: where each word of the text falls in the audio made from it.

Forced alignment with a CTC acoustic model the user supplies (`ctc.force_align`, Viterbi over its
frame posteriors, numpy only), or an estimate proportional to spoken characters when none is
configured; every result says which. No HTTP, settings or storage here.
"""
