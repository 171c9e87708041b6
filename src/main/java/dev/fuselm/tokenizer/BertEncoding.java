package dev.fuselm.tokenizer;

/**
 * One model input as BERT takes it: {@code [CLS] first [SEP] (second [SEP])}, then padding.
 *
 * @param ids           token ids, length L
 * @param typeIds       segment of each position: 0 for [CLS], the first text and its [SEP]; 1 for the second
 *                      text and its [SEP]; 0 for padding
 * @param attentionMask 1 for real tokens, 0 for padding
 */
public record BertEncoding(int[] ids, int[] typeIds, int[] attentionMask) {

  public int length() {
    return ids.length;
  }
}
