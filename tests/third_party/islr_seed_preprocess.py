# Verbatim copy of the seed's preprocessing: hoyso48's ISLR 1st-place notebook ("islr-1st-place"), its constants,
# landmark lists, tf_nan_mean / tf_nan_std and the Preprocess layer's `call` (as a function, run eagerly).
# Do not edit, format or "improve" it: tests/test_islr_data.py proves sign_notes.islr.features equal to this code.
# Ruff and the duplicates check skip tests/third_party.
import tensorflow as tf


# ---------------------------------------------------------------------------------------------------------------
# Reference: a literal transcription of the seed's preprocessing (hoyso48, ISLR 1st place notebook). Only the class
# became a function (the seed's `call`), run eagerly, where its `if tf.rank(...)` and `tf.cond`s work as written.
# It shares nothing with the code under test: the seed's constants and landmark lists are copied here as literal
# numbers, in the seed's order, with its own tf_nan_mean / tf_nan_std. Do not "improve" this code, and do not
# replace these lists by imports from sign_notes.
# ---------------------------------------------------------------------------------------------------------------
SEED_ROWS_PER_FRAME = 543
SEED_MAX_LEN = 384
SEED_PAD = -100.0
SEED_NUM_CLASSES = 250

SEED_NOSE = [1, 2, 98, 327]
SEED_LNOSE = [98]
SEED_RNOSE = [327]
SEED_LIP = [0, 61, 185, 40, 39, 37, 267, 269, 270, 409, 291, 146, 91, 181, 84, 17, 314, 405, 321, 375, 78, 191, 80,
    81, 82, 13, 312, 311, 310, 415, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
SEED_LLIP = [84, 181, 91, 146, 61, 185, 40, 39, 37, 87, 178, 88, 95, 78, 191, 80, 81, 82]
SEED_RLIP = [314, 405, 321, 375, 291, 409, 270, 269, 267, 317, 402, 318, 324, 308, 415, 310, 311, 312]
SEED_POSE = [500, 502, 504, 501, 503, 505, 512, 513]
SEED_LPOSE = [513, 505, 503, 501]
SEED_RPOSE = [512, 504, 502, 500]
SEED_REYE = [33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173]
SEED_LEYE = [263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398]
SEED_LHAND = list(range(468, 489))
SEED_RHAND = list(range(522, 543))
SEED_POINT_LANDMARKS = SEED_LIP + SEED_LHAND + SEED_RHAND + SEED_NOSE + SEED_REYE + SEED_LEYE  # +POSE
SEED_NUM_NODES = len(SEED_POINT_LANDMARKS)
SEED_CHANNELS = 6 * SEED_NUM_NODES


def ref_tf_nan_mean(x, axis=0, keepdims=False):
    return tf.reduce_sum(
        tf.where(tf.math.is_nan(x), tf.zeros_like(x), x), axis=axis, keepdims=keepdims
    ) / tf.reduce_sum(tf.where(tf.math.is_nan(x), tf.zeros_like(x), tf.ones_like(x)), axis=axis, keepdims=keepdims)


def ref_tf_nan_std(x, center=None, axis=0, keepdims=False):
    if center is None:
        center = ref_tf_nan_mean(x, axis=axis, keepdims=True)
    d = x - center
    return tf.math.sqrt(ref_tf_nan_mean(d * d, axis=axis, keepdims=keepdims))


def ref_preprocess(inputs, max_len=SEED_MAX_LEN, point_landmarks=SEED_POINT_LANDMARKS):
    inputs = tf.constant(inputs, tf.float32)
    if tf.rank(inputs) == 3:
        x = inputs[None, ...]
    else:
        x = inputs

    mean = ref_tf_nan_mean(tf.gather(x, [17], axis=2), axis=[1, 2], keepdims=True)
    mean = tf.where(tf.math.is_nan(mean), tf.constant(0.5, x.dtype), mean)
    x = tf.gather(x, point_landmarks, axis=2)  # N,T,P,C
    std = ref_tf_nan_std(x, center=mean, axis=[1, 2], keepdims=True)

    x = (x - mean) / std

    if max_len is not None:
        x = x[:, :max_len]
    length = tf.shape(x)[1]
    x = x[..., :2]

    dx = tf.cond(
        tf.shape(x)[1] > 1,
        lambda: tf.pad(x[:, 1:] - x[:, :-1], [[0, 0], [0, 1], [0, 0], [0, 0]]),
        lambda: tf.zeros_like(x),
    )

    dx2 = tf.cond(
        tf.shape(x)[1] > 2,
        lambda: tf.pad(x[:, 2:] - x[:, :-2], [[0, 0], [0, 2], [0, 0], [0, 0]]),
        lambda: tf.zeros_like(x),
    )

    x = tf.concat(
        [
            tf.reshape(x, (-1, length, 2 * len(point_landmarks))),
            tf.reshape(dx, (-1, length, 2 * len(point_landmarks))),
            tf.reshape(dx2, (-1, length, 2 * len(point_landmarks))),
        ],
        axis=-1,
    )

    x = tf.where(tf.math.is_nan(x), tf.constant(0.0, x.dtype), x)

    return x.numpy()
