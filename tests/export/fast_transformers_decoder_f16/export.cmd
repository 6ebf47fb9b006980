python3 scripts/export_torch.py ft_decoder.pt --name fast_transformers_decoder_f16 --weights model.safetensors --spec model.xf --nhead 2 --activation relu --causal --dtype f16
