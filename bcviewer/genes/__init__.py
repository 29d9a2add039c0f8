"""Gene-expression models (CNN-BiLSTM, DeepCME, GexpNet): reading tables, preprocessing, training,
cross-validation, a safetensors model store and prediction. Qt-free."""
