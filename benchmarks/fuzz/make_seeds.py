# Writes the seed corpora of the Jazzer targets (src/test/resources/dev/fuselm/*/*FuzzTestInputs/):
# small valid files of each format plus a few known-bad ones. Run from anywhere: python3 make_seeds.py
import json, struct, os
R=os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../src/test/resources/dev/fuselm')
def w(rel, data):
    p=os.path.join(R, rel); os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p,'wb').write(data if isinstance(data,bytes) else data.encode())

# safetensors
def st(tensors, meta=None, extra=b''):
    hdr={}; data=b''
    if meta is not None: hdr['__metadata__']=meta
    for name,(dt,shape,raw) in tensors.items():
        hdr[name]={'dtype':dt,'shape':shape,'data_offsets':[len(data),len(data)+len(raw)]}
        data+=raw
    h=json.dumps(hdr,separators=(',',':')).encode()
    h+=b' '*((8-len(h)%8)%8)
    return struct.pack('<Q',len(h))+h+data+extra
d='io/SafeTensorsFuzzTestInputs/readAnyFile/'
w(d+'f32_2x2', st({'w':('F32',[2,2],struct.pack('<4f',1,2,3,4))}))
w(d+'mixed', st({'a':('BF16',[3],b'\x80\x3f\x00\x40\x40\x40'),'b':('F16',[2],b'\x00\x3c\x00\xc0'),
                 'c':('I64',[2],struct.pack('<2q',7,-1)),'d':('I32',[1],struct.pack('<i',5)),
                 'e':('U8',[2],b'\x01\x02')}, meta={'format':'pt'}))
w(d+'empty_header', st({}))
w(d+'scalar_and_zero', st({'s':('F32',[],struct.pack('<f',0.5)),'z':('F32',[0,4],b'')}))
w(d+'nan', st({'w':('F32',[1],struct.pack('<f',float('nan')))}))
w(d+'trailing_bytes', st({'w':('F32',[1],struct.pack('<f',1))}, extra=b'PK\x03\x04'))
w(d+'huge_length', struct.pack('<Q',(1<<63)+5)+b'{}')

# config.json
d='io/ConfigJsonFuzzTestInputs/parseAnyConfig/'
w(d+'gpt2', json.dumps({"model_type":"gpt2","vocab_size":50257,"n_positions":64,"n_embd":32,"n_layer":2,"n_head":2,"layer_norm_epsilon":1e-5,"activation_function":"gelu_new"}))
w(d+'bert', json.dumps({"model_type":"bert","vocab_size":30522,"hidden_size":32,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":128,"max_position_embeddings":64,"type_vocab_size":2,"hidden_act":"gelu","layer_norm_eps":1e-12,"hidden_dropout_prob":0.1,"attention_probs_dropout_prob":0.1}))
w(d+'epsilon_string', '{"n_embd": 32, "layer_norm_epsilon": "x"}')
w(d+'invalid_utf8', b'{"n_embd": 32, "name": "\xff\xfe"}')
w(d+'duplicate_key', '{"n_embd": 32, "n_embd": 64}')
w(d+'huge', '{"n_positions": 1000000000, "n_embd": 65536, "n_inner": null}')

# byte-level alphabet
def b2u():
    bs=list(range(ord('!'),ord('~')+1))+list(range(ord('¡'),ord('¬')+1))+list(range(ord('®'),ord('ÿ')+1))
    cs=bs[:]; n=0
    for b in range(256):
        if b not in bs: bs.append(b); cs.append(256+n); n+=1
    return {b:chr(c) for b,c in zip(bs,cs)}
bu=b2u()
vocab={bu[b]:i for i,b in enumerate(range(256))}
merges=[('Ġ','t'),('h','e'),('Ġt','he'),('i','n'),('e','r')]
for a,b in merges: vocab[a+b]=len(vocab)
vocab['<|endoftext|>']=len(vocab)
enc=json.dumps(vocab,ensure_ascii=False).encode()
bpe=('#version: 0.2\n'+''.join(f'{a} {b}\n' for a,b in merges)).encode()
d='tokenizer/TokenizerFilesFuzzTestInputs/bpeFiles/'
w(d+'small', enc+b'\0'+bpe)
w(d+'bad_id', enc.replace(b'"<|endoftext|>": %d'%vocab['<|endoftext|>'], b'"<|endoftext|>": 9999')+b'\0'+bpe)
w(d+'unknown_merge', enc+b'\0'+bpe+b'x y\n')
tj={"version":"1.0","added_tokens":[{"id":vocab['<|endoftext|>'],"content":"<|endoftext|>","special":True}],
    "model":{"type":"BPE","vocab":vocab,"merges":[f'{a} {b}' for a,b in merges]}}
d='tokenizer/TokenizerFilesFuzzTestInputs/tokenizerJson/'
w(d+'bpe', json.dumps(tj,ensure_ascii=False))
wp=['[PAD]','[UNK]','[CLS]','[SEP]','[MASK]','the','a','##s','hello','world','##ing','run','!',',','.','café','日']
w(d+'wordpiece', json.dumps({"version":"1.0","normalizer":{"type":"BertNormalizer","lowercase":True},
    "model":{"type":"WordPiece","unk_token":"[UNK]","vocab":{t:i for i,t in enumerate(wp)}}},ensure_ascii=False))
w(d+'not_json', '{"model": ')
d='tokenizer/TokenizerFilesFuzzTestInputs/vocabTxt/'
w(d+'small', '\n'.join(wp)+'\n')
w(d+'crlf_no_unk', 'a\r\nb\r\n##c\r\n')
w(d+'bad_utf8', b'[UNK]\nab\xc3\n')
d='tokenizer/EncodingFuzzTestInputs/byteLevelBpeRoundTrip/'
texts={'ascii':"Hello, world! It's a test.\n\n  spaces   ", 'special':'a<|endoftext|>b <|endoftext|', 'unicode':'café 日本語 😀 \u0301e İ ß',
       'bad_utf8':b'ab\xff\xc3(\xed\xa0\x80z', 'controls':''.join(chr(i) for i in range(32))}
for k,v in texts.items():
    w(d+k, v if isinstance(v,bytes) else v.encode())
    w('tokenizer/EncodingFuzzTestInputs/wordPiece/'+k, v if isinstance(v,bytes) else v.encode())
w('tokenizer/EncodingFuzzTestInputs/wordPiece/bert_specials', '[CLS] Hello [MASK] world [SEP] unaffable running')
d='serve/RequestParsingFuzzTestInputs/parseAnyBody/'
bodies={'completion':{"model":"tiny","prompt":"Hello","max_tokens":8,"temperature":0.7,"top_p":0.9,"n":2,"stop":["\n","."],"seed":1,"logprobs":2},
 'completion_ids':{"prompt":[[1,2,3],[4,5]],"stream":False,"best_of":1},
 'chat':{"model":"tiny","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]},{"role":"assistant","content":"Hello"},{"role":"user","content":"More"}],"max_completion_tokens":4,"logprobs":True,"top_logprobs":3,"stream":True,"stream_options":{"include_usage":True},"response_format":{"type":"text"}},
 'embeddings':{"model":"tiny","input":["a","b"],"encoding_format":"base64","dimensions":32},
 'bad_types':{"prompt":"x","n":"2","temperature":1e400,"stop":[1]}}
for k,v in bodies.items(): w(d+k, json.dumps(v,ensure_ascii=False))
w(d+'not_object','[1,2]')
