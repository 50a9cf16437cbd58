// `ferrum embed` and `ferrum transcribe`: the encoder-style families (BERT, CLIP, Whisper) from the
// command line. argv[0] is the command's own name; both return the process exit status.
#pragma once

namespace ferrum::cli {

// ferrum embed MODEL [TEXT] [--file F] [--ids ID,...] [--image-pixels F]
//   BERT: the mean-pooled, L2-normalised sentence embedding; CLIP: get_text_features, or
//   get_image_features of preprocessed pixel values. Prints a JSON array.
int run_embed(int argc, char** argv);

// ferrum transcribe MODEL AUDIO [--language L] [--task transcribe|translate] [--ids] [--max-new-tokens N]
//   Whisper, greedy, chunk by chunk; prints the text, or the token ids when the model has no
//   tokenizer.json (or with --ids).
int run_transcribe(int argc, char** argv);

}  // namespace ferrum::cli
